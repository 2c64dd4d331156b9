# PaperBot: python:3.11-slim, runs as a non-root user, keeps its database on the /data volume.
#   docker compose up -d --build          (see docker-compose.yml)
#   docker compose run --rm paperbot doctor
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAPERBOT_DATABASE=/data/paperbot.db \
    PAPERBOT_DATA_DIR=/app/data \
    PAPERBOT_WEB_HOST=0.0.0.0 \
    PAPERBOT_WEB_PORT=8080

WORKDIR /app

# Dependencies first (a layer that survives code changes), then the code.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY data ./data
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin paperbot \
    && mkdir -p /data \
    && chown paperbot:paperbot /data

USER paperbot
VOLUME ["/data"]
# The read-only web site (publish it on the host's loopback: see docker-compose.yml).
EXPOSE 8080

# SIGTERM (docker stop) closes the Discord connection and the database cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
