# Production image: gunicorn with several workers, non-root, with a health check.

# The SMART app (smart_app/): npm ci from its lock file, built into cds_service/static/smart.
FROM node:20-slim AS smart-app
WORKDIR /build
COPY smart_app/package.json smart_app/package-lock.json ./smart_app/
RUN cd smart_app && npm ci --no-audit --no-fund
COPY smart_app ./smart_app
RUN cd smart_app && node build.mjs

# The service as a wheel: installing compiles the C module cds_service._jsonscan, so the
# compiler stays in this stage and the image gets only the wheel.
FROM python:3.11-slim AS wheel
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY --from=smart-app /build/cds_service/static/smart ./cds_service/static/smart
COPY fhir_mappings ./fhir_mappings
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=8080 \
    CDS_PROFILE=production \
    CDS_FEEDBACK_DATABASE_URL=sqlite:////var/lib/cds/feedback.sqlite3

# /app holds only the gunicorn settings: the service is imported from the installed wheel
# (no source tree in the working directory to shadow it).
WORKDIR /app
COPY --from=wheel /wheels /tmp/wheels
COPY gunicorn.conf.py ./
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && python -c "import cds_service._jsonscan, cds_service.http" \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin cds \
    && mkdir -p /var/lib/cds && chown cds /var/lib/cds

USER cds
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
# Authentication is on in production: set CDS_AUTH_ISSUERS (or CDS_AUTH_TRUST_SANDBOX=true),
# or the service refuses to start (see README, Security).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "cds_service.wsgi:app"]
