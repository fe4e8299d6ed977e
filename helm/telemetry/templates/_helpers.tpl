{{/*
Names, labels and the pod parts every pod of the release shares. Modelled on the dask-kubernetes operator chart.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "telemetry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else `<release>-<name>` (just `<release>` when it
already contains the name), at most 63 characters (DNS label).
*/}}
{{- define "telemetry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The DaskCluster's name: `<full name>-<hash of its pods>`, at most 53 characters (the operator names the
scheduler Service `<name>-scheduler`, a DNS label). The operator never updates the pods of an existing
DaskCluster (only its worker count), so every change of the pods (image, resources, settings) must make a
new cluster: with the hash in the name, `helm upgrade` creates the new DaskCluster and deletes the old one.
*/}}
{{- define "telemetry.clusterName" -}}
{{- $pods := list (include "telemetry.daskWorkerPod" .) (include "telemetry.daskSchedulerPod" .) (toYaml .Values.podAnnotations) }}
{{- printf "%s-%s" (include "telemetry.fullname" . | trunc 44 | trimSuffix "-") (join "\n" $pods | sha256sum | trunc 8) }}
{{- end }}

{{/* The Service the operator creates for the scheduler (Dask comm port 8786 and dashboard port 8787). */}}
{{- define "telemetry.schedulerService" -}}
{{- printf "%s-scheduler" (include "telemetry.clusterName" .) }}
{{- end }}

{{/* The address runs connect to (config cluster.address). */}}
{{- define "telemetry.schedulerAddress" -}}
{{- printf "tcp://%s.%s.svc:8786" (include "telemetry.schedulerService" .) .Release.Namespace }}
{{- end }}

{{/* The CronJob's name: at most 52 characters (Kubernetes appends 11 to name each run's Job). */}}
{{- define "telemetry.cronJobName" -}}
{{- printf "%s-run" (include "telemetry.fullname" . | trunc 48 | trimSuffix "-") }}
{{- end }}

{{/* The one-off Job's name: one per release revision (a Job's pod template cannot be changed in place). */}}
{{- define "telemetry.jobName" -}}
{{- printf "%s-run-%d" (include "telemetry.fullname" . | trunc 48 | trimSuffix "-") (int .Release.Revision) }}
{{- end }}

{{/* The dashboard Service's name. */}}
{{- define "telemetry.dashboardService" -}}
{{- printf "%s-dashboard" (include "telemetry.fullname" . | trunc 53 | trimSuffix "-") }}
{{- end }}

{{/* The ConfigMap holding telemetry.yaml. */}}
{{- define "telemetry.configMapName" -}}
{{- printf "%s-config" (include "telemetry.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/* Where run and test pods mount the config file. */}}
{{- define "telemetry.configPath" -}}
/etc/telemetry/telemetry.yaml
{{- end }}

{{/* The ServiceAccount of every pod of the release. */}}
{{- define "telemetry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "telemetry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "telemetry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the release's objects. */}}
{{- define "telemetry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "telemetry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "telemetry.labels" -}}
helm.sh/chart: {{ include "telemetry.chart" . }}
{{ include "telemetry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: telemetry
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The image of every container. */}}
{{- define "telemetry.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Pod-level settings of every pod: the ServiceAccount without a token (no pod of the release calls the
Kubernetes API), a non-root restricted security context, pull secrets and placement.
*/}}
{{- define "telemetry.podSpecCommon" -}}
serviceAccountName: {{ include "telemetry.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.podSecurityContext.runAsUser | int }}
  runAsGroup: {{ .Values.podSecurityContext.runAsGroup | int }}
  fsGroup: {{ .Values.podSecurityContext.fsGroup | int }}
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container-level security context of every container. */}}
{{- define "telemetry.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/*
S3 credentials as environment variables read from the existing Secret (never from values, never in the
ConfigMap). botocore reads AWS_* itself, so the keys stay out of telemetry's config and out of Dask task payloads.
*/}}
{{- define "telemetry.credentialsEnv" -}}
{{- $c := .Values.store.s3.credentials }}
{{- if $c.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $c.existingSecret }}
      key: {{ $c.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $c.existingSecret }}
      key: {{ $c.secretAccessKeyKey }}
{{- if $c.sessionTokenKey }}
- name: AWS_SESSION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $c.existingSecret }}
      key: {{ $c.sessionTokenKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* The scratch volume: /tmp of every pod, an emptyDir of the given size limit. Call with (dict "sizeLimit" ...). */}}
{{- define "telemetry.scratchVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .sizeLimit }}
{{- end }}

{{/*
The pod template of a run (CronJob or Job): `telemetry run --config ...` against the release's DaskCluster.
*/}}
{{- define "telemetry.runPodTemplate" -}}
metadata:
  labels:
    {{- include "telemetry.labels" . | nindent 4 }}
    app.kubernetes.io/component: run
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "telemetry.podSpecCommon" . | nindent 2 }}
  restartPolicy: Never
  containers:
    - name: run
      image: {{ include "telemetry.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # the image's entry point: tini (PID 1, forwards SIGTERM) -> telemetry
      args:
        - run
        - --config
        - {{ include "telemetry.configPath" . }}
        {{- if .Values.run.verbose }}
        - --verbose
        {{- end }}
      env:
        - name: HOME
          value: /tmp
        {{- with include "telemetry.credentialsEnv" . }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with .Values.alerts.webhook.existingSecret }}
        # the alert webhook URL (a secret: it often embeds a token); telemetry reads TELEMETRY__SECTION__KEY
        - name: TELEMETRY__ALERTS__WEBHOOK_URL
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.alerts.webhook.urlKey }}
        {{- end }}
      resources:
        {{- toYaml .Values.run.resources | nindent 8 }}
      securityContext:
        {{- include "telemetry.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/telemetry
          readOnly: true
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "telemetry.configMapName" . }}
        defaultMode: 292  # 0444, read-only: telemetry refuses a world-writable config file
    {{- include "telemetry.scratchVolume" (dict "sizeLimit" .Values.run.scratchSizeLimit) | nindent 4 }}
{{- end }}

{{/*
The Job spec of a run: retries with back-off; a pod lost to a node drain or preemption does not count as a
failed attempt.
*/}}
{{- define "telemetry.runJobSpec" -}}
backoffLimit: {{ .Values.run.backoffLimit | int }}
activeDeadlineSeconds: {{ .Values.run.activeDeadlineSeconds | int }}
podFailurePolicy:
  rules:
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
template:
  {{- include "telemetry.runPodTemplate" . | nindent 2 }}
{{- end }}
