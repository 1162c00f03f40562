# syntax=docker/dockerfile:1
# The service image: one tenant's upload API (`python -m service`: migrations, then uvicorn).
#   docker build -t silo-service .
# Two stages: the builder resolves and installs the locked dependencies with uv; the final
# stage gets only the virtualenv and service/, so no uv, no pip cache, no build tools.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
# uv from PyPI (the version that wrote uv.lock), not from a container registry.
RUN pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1
WORKDIR /src
COPY pyproject.toml uv.lock ./
# The exact locked versions (`--locked` fails if uv.lock is stale), with their hashes, of the
# project's own dependencies: exactly what the service imports. The tooling, Pulumi and test
# dependency groups are left out by --no-default-groups (pyproject.toml says which is which).
# tests/provisioning/test_dockerfile.py checks the image has everything the service imports.
RUN uv export --locked --no-default-groups --no-emit-project \
        --output-file /tmp/requirements.txt \
 && uv venv /opt/venv \
 && uv pip install --python /opt/venv/bin/python --require-hashes --no-deps \
        -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
# A fixed numeric uid, so orchestrators can check "runs as non-root" without /etc/passwd.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin silo
WORKDIR /app
# The RDS CA bundle (every region's roots), so libpq verifies the database's certificate and
# host name (PGSSLMODE=verify-full, PGSSLROOTCERT: provisioning/service_env.py sets both on
# AWS only). Fetched at build time, world-readable (a URL's ADD would otherwise be mode 600,
# root's, and uid 10001 could not read it). No --checksum: AWS publishes none, and the
# bundle changes when AWS adds or rotates a CA; a rebuild takes the current one
# (docs/operations/releases.md).
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
    /etc/ssl/certs/rds-global-bundle.pem
COPY --from=builder /opt/venv /opt/venv
COPY service/ /app/service/
USER 10001:10001
EXPOSE 8000
# slim has no curl: ask /healthz (exec form: no shell needed) with the standard library (any non-2xx raises, exit 1).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
# uvicorn finishes in-flight requests on SIGTERM (what `docker stop` and ECS send).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]
