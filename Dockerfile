# weapp-login's image: the runtime lock only, installed with its hashes; runs as a non-root user.
# Build: docker build -t weapp-login .   Run: see compose.yaml and docs/DEPLOYING.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /app
COPY requirements.lock ./
RUN python -m venv .venv \
    && .venv/bin/pip install -q --disable-pip-version-check --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN useradd --system --uid 10001 --no-create-home weapp-login
USER 10001

EXPOSE 8000
# /healthz: the process serves. Orchestrators route traffic on /readyz instead (see k8s/).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
# SIGTERM finishes the requests in flight (within 10 s) and exits: give `docker stop -t 20`.
STOPSIGNAL SIGTERM
CMD ["/app/.venv/bin/python", "-m", "entrypoints"]
