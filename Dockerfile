# syntax=docker/dockerfile:1
# The telemetry image: `telemetry` for batch runs, and `dask scheduler` / `dask worker` for the Dask pods the
# dask-kubernetes operator starts from the same image (one image, so client, scheduler and workers always
# run the same versions of telemetry, dask and distributed).
#
#   docker build -t telemetry:0.1.0 .
#   docker run --rm telemetry:0.1.0 --version                      # -> telemetry 0.1.0
#   docker run --rm telemetry:0.1.0 dask worker --help             # the Dask CLI, for the operator's pods
#
# Stage 1 builds a virtualenv with the package and its [k8s] extra, pinned by constraints.txt (the versions the
# tests ran with). Stage 2 copies only that virtualenv onto a clean slim Python: no compiler, no pip cache,
# no sources, a non-root numeric user (Kubernetes' runAsNonRoot needs a numeric UID to check).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ------------------------------------------------------------------------------------------------ build
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# compilers only here, for a dependency without a wheel for the target platform
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/telemetry
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY telemetry ./telemetry
# a regular (not editable) install: the final stage gets no sources, only site-packages and the entry points
RUN /opt/telemetry/bin/pip install --upgrade pip \
 && /opt/telemetry/bin/pip install -c constraints.txt '.[k8s]' \
 && /opt/telemetry/bin/telemetry --version \
 && /opt/telemetry/bin/dask worker --help > /dev/null \
 && /opt/telemetry/bin/dask scheduler --help > /dev/null

# ------------------------------------------------------------------------------------------------ final
FROM ${PYTHON_IMAGE} AS final
# tini as PID 1 forwards SIGTERM (a Job deadline, a node drain) to the process; Python as PID 1 would ignore it
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 telemetry \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin telemetry
COPY --from=build /opt/telemetry /opt/telemetry
COPY --chmod=0555 docker/entrypoint.sh /usr/local/bin/telemetry-entrypoint
# HOME and the working directory are /tmp: Kubernetes mounts an emptyDir there (the root filesystem is read-only).
# `dask worker` from this image keeps glibc's dynamic malloc thresholds (telemetry.run.cluster.WORKER_DASK_CONFIG).
ENV PATH=/opt/telemetry/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="{'MALLOC_TRIM_THRESHOLD_': None}"
WORKDIR /tmp
USER 1000:1000
# `telemetry ARGS`; `dask ...` runs the Dask CLI instead (operator pods pass their command as args)
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/telemetry-entrypoint"]
CMD ["--help"]
