# One image for every TradeWatch service of docker-compose.yml: the Dagster code location
# (gRPC), the Dagster webserver and daemon, the GraphQL API, the migrations and the simulator.
# Each compose service picks its command; the default just lists the `tradewatch` verbs.
#
#   docker build -t tradewatch .

# --- stage 1: the project as a wheel (needs only the sources, not the dependencies) ---
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml ./
COPY tradewatch ./tradewatch
COPY tradewatch_assets ./tradewatch_assets
COPY graphql_api ./graphql_api
COPY trade_sim ./trade_sim
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

# --- stage 2: the runtime ---
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    TRADEWATCH_HOME=/home/tradewatch/.tradewatch

# The pinned dependencies first: this layer survives every change to the sources.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# The project itself, without letting pip re-resolve anything the lock already decided.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

# A fixed uid so files on named volumes keep one owner across rebuilds.
RUN useradd --create-home --uid 10001 --user-group tradewatch \
    && mkdir -p "$DAGSTER_HOME/storage" "$TRADEWATCH_HOME" /app \
    && chown -R tradewatch:tradewatch "$DAGSTER_HOME" "$TRADEWATCH_HOME"

# The same dagster.yaml as `tradewatch demo`: PostgreSQL storage from TRADEWATCH_DAGSTER_PG_URL,
# the queued run coordinator and the trade_api pool of one.
COPY dagster.yaml /opt/dagster/dagster_home/dagster.yaml
WORKDIR /app
COPY workspace.compose.yaml ./workspace.compose.yaml

USER tradewatch
EXPOSE 3000 4000 8000 8090
CMD ["tradewatch", "--help"]
