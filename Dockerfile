# One image for every blazecast process (worker, beat, listener, flower, simulator, migrate).
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BLAZECAST_HOME=/var/lib/blazecast

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY models ./models
COPY migrations ./migrations
COPY simulator ./simulator
COPY worker ./worker
# The pinned versions CI tested (scripts/lock refreshes constraints.txt), not the newest at build time.
RUN pip install -c constraints.txt . \
    && useradd --system --create-home --home-dir /var/lib/blazecast blazecast \
    && mkdir -p /shared && chown blazecast /shared
USER blazecast

ENTRYPOINT ["blazecast"]
CMD ["--help"]
