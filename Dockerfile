# wirewatch: small image, non-root, the `wirewatch` entrypoint.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    WIREWATCH_DB=/data/wirewatch.db WIREWATCH_HTTP_PORT=3000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY config ./config
RUN pip install . && useradd --system --uid 10001 --home-dir /data wirewatch \
    && mkdir -p /data && chown wirewatch /data
USER wirewatch
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WIREWATCH_HTTP_PORT', '3000'), timeout=4)"
ENTRYPOINT ["wirewatch"]
CMD ["run", "--config", "/app/config/wirewatch.yaml"]
