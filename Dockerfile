# syntax=docker/dockerfile:1
# stockdb image: one image for every role (api, worker, ui, feature_builder); compose picks the
# command. Build: `docker-compose build` (or `docker build -t stockdb .`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv with the pinned requirements and the package ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler only for the rare dependency without a wheel for this platform (build stage only).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (their own cache layer), then the package itself without re-resolving.
COPY requirements.lock ./
RUN pip install --upgrade pip \
    && pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . \
    && stockdb --help > /dev/null

# ---- runtime: the virtualenv, the compatibility entry points, a non-root user --------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/opt/stockdb \
    STOCKDB_DATA_DIR=/data \
    STOCKDB_API_URL=http://api:8000
RUN groupadd --system --gid 10001 stockdb \
    && useradd --system --uid 10001 --gid stockdb --home-dir /opt/stockdb --shell /usr/sbin/nologin stockdb \
    && mkdir -p /data /opt/stockdb \
    && chown stockdb:stockdb /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/stockdb
# `python -m feature_service.main` and `uvicorn app.api.main:app` work from any folder.
COPY feature_service ./feature_service
COPY app ./app
USER stockdb
VOLUME ["/data"]
EXPOSE 8000 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["stockdb", "serve", "--host", "0.0.0.0", "--port", "8000"]
