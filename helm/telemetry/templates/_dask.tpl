{{/*
The pod specs of the release's DaskCluster (worker and scheduler), as named templates so that the cluster's
name can carry their hash (telemetry.clusterName in _helpers.tpl).
*/}}

{{/* The worker pod: `dask worker` with telemetry's threads and memory limit; S3 credentials from the Secret. */}}
{{- define "telemetry.daskWorkerPod" -}}
{{ include "telemetry.podSpecCommon" . }}
containers:
  - name: worker
    image: {{ include "telemetry.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    # the image's entry point runs `dask ...` as given; the operator sets DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS
    args:
      - dask
      - worker
      - --name
      - $(DASK_WORKER_NAME)
      - --dashboard
      - --dashboard-address
      - "8788"
      - --nthreads
      - {{ .Values.dask.threadsPerWorker | quote }}
      - --memory-limit
      - {{ .Values.dask.memoryLimit | quote }}
    env:
      - name: HOME
        value: /tmp
      # glibc's malloc keeps its dynamic thresholds in the workers (telemetry.cluster.WORKER_DASK_CONFIG)
      - name: DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON
        value: "{'MALLOC_TRIM_THRESHOLD_': None}"
      {{- with include "telemetry.credentialsEnv" . }}
      {{- . | nindent 6 }}
      {{- end }}
    ports:
      - name: http-dashboard
        containerPort: 8788
        protocol: TCP
    resources:
      {{- toYaml .Values.dask.worker.resources | nindent 6 }}
    securityContext:
      {{- include "telemetry.containerSecurityContext" . | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  {{- include "telemetry.scratchVolume" (dict "sizeLimit" .Values.dask.worker.scratchSizeLimit) | nindent 2 }}
{{- end }}

{{/* The scheduler pod: `dask scheduler`, comm port 8786, dashboard port 8787; no credentials. */}}
{{- define "telemetry.daskSchedulerPod" -}}
{{ include "telemetry.podSpecCommon" . }}
containers:
  - name: scheduler
    image: {{ include "telemetry.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      - dask
      - scheduler
      - --host
      - 0.0.0.0
    env:
      - name: HOME
        value: /tmp
    ports:
      - name: tcp-comm
        containerPort: 8786
        protocol: TCP
      - name: http-dashboard
        containerPort: 8787
        protocol: TCP
    readinessProbe:
      httpGet:
        port: http-dashboard
        path: /health
      periodSeconds: 5
      timeoutSeconds: 5
    livenessProbe:
      httpGet:
        port: http-dashboard
        path: /health
      initialDelaySeconds: 15
      periodSeconds: 20
      timeoutSeconds: 5
    resources:
      {{- toYaml .Values.dask.scheduler.resources | nindent 6 }}
    securityContext:
      {{- include "telemetry.containerSecurityContext" . | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  {{- include "telemetry.scratchVolume" (dict "sizeLimit" .Values.dask.scheduler.scratchSizeLimit) | nindent 2 }}
{{- end }}
