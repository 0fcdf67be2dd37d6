"""The deployment files, without running them: the Dockerfile is lint-clean, docker-compose.yml
matches the compose specification, both Kubernetes overlays render and validate strictly, and,
in both, every service is given its own database's address and credentials and nobody else's,
with the same settings (LAB_*) that `lab up` gives a process (lab/stack/topology.py).

The compose file is also run for real, under podman: tests/deploy/test_compose_podman.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.stack.topology import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("sync", "async")
# A variant that compose runs as another profile, with its settings from the shell.
COMPOSE_PROFILE = {"sync-resilient": "sync"}
OWNERS = sorted({name for impl in TOPOLOGY.values() for name, s in impl.items() if s.owns_database})
KUBERNETES_VERSION = "1.32.0"  # the preinstalled kubectl's


def tool(name: str) -> str:
    """A dev tool installed beside this Python (pyproject.toml's dev extras), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: `make venv` installs the dev extras")
    return found


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif node is not None:
        yield str(node)


def foreign_mentions(texts: list[str], own: str | None) -> list[str]:
    """What in `texts` names another data-owning service's database, role or password."""
    found = []
    for other in OWNERS:
        if other == own:
            continue
        patterns = [
            rf"\b{other}-db\b",  # its database's host / Secret / StatefulSet
            rf"\b{other}_svc\b",  # its role
            rf"\b{other.upper()}_DB_PASSWORD\b",  # its password's variable (compose)
            rf"\b{other}-dev-password\b",  # its development password
        ]
        found += [t for t in texts for p in patterns if re.search(p, t)]
    return found


# --- Dockerfile ------------------------------------------------------------------------------
def test_dockerfile_is_hadolint_clean() -> None:
    files = [
        ROOT / "Dockerfile",
        ROOT / "deploy" / "prometheus" / "Containerfile",
        *sorted((ROOT / "tests/deploy/standins").glob("*.Containerfile")),
    ]
    result = run([tool("hadolint"), *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_entrypoint_selects_implementation_and_service(tmp_path: Path) -> None:
    entrypoint = ROOT / "deploy" / "docker" / "entrypoint.sh"
    python = tmp_path / "python"  # stands in for the image's python: prints what it was asked
    python.write_text('#!/bin/sh\necho "python $*"\n')
    python.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}

    def entry(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(entrypoint), *args], capture_output=True, text=True, env=env | extra
        )

    assert entry("async", "comments", "--x").stdout.strip() == "python -m async_impl.comments --x"
    assert entry(LAB_IMPL="sync", LAB_SERVICE="query").stdout.strip() == "python -m sync_impl.query"
    assert entry("echo", "anything").stdout.strip() == "anything"
    assert entry("sync", "nope").returncode == 2
    assert entry().returncode == 2


# --- docker-compose.yml ----------------------------------------------------------------------
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_compose_file_matches_the_compose_specification() -> None:
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_gives_each_service_its_own_database_only() -> None:
    services = compose()["services"]
    for name, service in services.items():
        command = service.get("command") or []
        if name.endswith("-db"):
            impl, own = name.split("-", 1)
            own = own.removesuffix("-db")
            env = compose_environment(service)
            assert env["POSTGRES_USER"] == f"{own}_svc", name
            assert env["POSTGRES_DB"] == own, name
            assert f"{own.upper()}_DB_PASSWORD" in env["POSTGRES_PASSWORD"], name
            assert service["volumes"] == [f"{name}:/var/lib/postgresql/data"], name
            assert service["profiles"] == [impl], name
        elif command[:1] in (["sync"], ["async"]):
            impl, own = command
            assert name == f"{impl}-{own}", name
        else:
            own = None  # the bus, Locust
        mentions = foreign_mentions(list(strings(service)), own)
        assert not mentions, f"{name} is given another service's database: {mentions}"


def test_compose_wires_services_as_lab_up_does() -> None:
    """The same LAB_* settings as lab/stack/runner.py gives each process, from
    lab/stack/topology.py."""
    services = compose()["services"]
    for variant, topology in TOPOLOGY.items():
        impl = COMPOSE_PROFILE.get(variant, variant)
        for name, spec in topology.items():
            service = services[f"{impl}-{name}"]
            assert service["profiles"] == [impl]
            assert service["command"] == [impl, name]
            assert service["init"] is True  # SIGTERM reaches the service; compose down is quick
            assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "blog.rpc.healthcheck"]
            assert name in service["networks"]["default"]["aliases"]  # one name, all replicas
            env = compose_environment(service)
            expected = {"LAB_BLOCKLIST", "LAB_MODERATION_DELAY_MS", "LAB_CALL_TIMEOUT_MS"}
            # A variant's own settings come from the shell (LAB_RESILIENCE=1: sync-resilient).
            expected |= {
                key
                for v, variant_topology in TOPOLOGY.items()
                if COMPOSE_PROFILE.get(v, v) == impl
                for key, _ in variant_topology[name].env
            }
            if spec.owns_database:
                expected.add("LAB_DSN")
                assert f"@{impl}-{name}-db:5432/{name}" in env["LAB_DSN"]
            if spec.uses_bus:  # one node, or every node of the cluster (cluster.env)
                expected |= {"LAB_NATS_URL", "LAB_STREAM_REPLICAS"}
                assert env["LAB_NATS_URL"] == "${NATS_URLS:-nats://nats:4222}"
                assert env["LAB_STREAM_REPLICAS"] == "${STREAM_REPLICAS:-1}"
            expected |= {f"LAB_{peer.upper()}_ADDR" for peer in spec.peers}
            assert set(env) == expected, (impl, name)
            for peer in spec.peers:
                assert env[f"LAB_{peer.upper()}_ADDR"] == f"{peer}:50051"
            depends = service["depends_on"]
            wanted = {f"{impl}-{p}" for p in spec.peers}
            wanted |= {f"{impl}-{name}-db"} if spec.owns_database else set()
            wanted |= {"nats"} if spec.uses_bus else set()
            assert set(depends) == wanted, (impl, name)
            assert all(d["condition"] == "service_healthy" for d in depends.values())
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert set(service["profiles"]) <= {"sync", "async", "async-cluster"}, name


def test_compose_bus_and_databases_as_the_lab_runs_them() -> None:
    services = compose()["services"]
    assert services["nats"]["image"] == "${NATS_IMAGE:-nats:2.10-alpine}"
    config = (ROOT / "deploy" / "compose" / "nats-server.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", config, re.M)  # fsync every write
    for name, service in services.items():
        if name.endswith("-db"):
            assert service["image"] == "${POSTGRES_IMAGE:-postgres:16}", name
    assert services["locust-master"]["ports"] == ["127.0.0.1:${LOCUST_WEB_PORT:-8089}:8089"]
    for replicated in ("sync-comments", "sync-query", "async-comments", "async-query"):
        assert services[replicated]["deploy"]["replicas"] >= 2, replicated


def test_compose_prometheus_scrapes_every_service_and_the_bus() -> None:
    """The prometheus service (both profiles) finds every replica of every service by its one
    name on the port the image serves /metrics on, and the bus exporter (async) on nats's
    monitoring port; its configuration and rules are the committed files."""
    services = compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    port = re.search(r"LAB_METRICS_LISTEN=0\.0\.0\.0:(\d+)", dockerfile)
    assert port, "the image serves no /metrics"
    prometheus = services["prometheus"]
    assert sorted(prometheus["profiles"]) == ["async", "sync"]
    assert prometheus["build"]["context"] == "deploy/prometheus"
    assert prometheus["ports"] == ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]  # loopback only
    assert set(prometheus["volumes"]) >= {
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "./deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro",
    }
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    found = {
        job["job_name"]: (sd["names"], sd["port"])
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    expected = {name: ([name], int(port[1])) for name in TOPOLOGY["sync"]}
    assert found == expected | {"nats": (["nats-exporter"], int(port[1]))}
    for impl in ("sync", "async"):  # compose's profiles (sync-resilient: sync's, its env set)
        for name in TOPOLOGY[impl]:
            assert name in services[f"{impl}-{name}"]["networks"]["default"]["aliases"]
    exporter = services["nats-exporter"]
    assert exporter["profiles"] == ["async"]
    command = exporter["command"]
    assert command[:3] == ["python", "-m", "lab.stack.bus_exporter"]
    assert command[command.index("--listen") + 1] == f"0.0.0.0:{port[1]}"
    monitor = command[command.index("--monitor") + 1]
    nats_conf = (ROOT / "deploy" / "compose" / "nats-server.conf").read_text()
    http = re.search(r"^http:\s*0\.0\.0\.0:(\d+)", nats_conf, re.M)
    assert http and monitor == f"http://nats:{http[1]}"


def substituted(node: Any, variables: dict[str, str]) -> Any:
    """A compose document with ${NAME:-default} replaced as compose does, from `variables`."""
    if isinstance(node, dict):
        return {key: substituted(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [substituted(item, variables) for item in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1]) or m[2], node)
    return node


def env_file(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def bus_of(document: dict[str, Any], profiles: set[str]) -> tuple[dict[str, Any], set[str]]:
    """The nats nodes a set of profiles runs, and the NATS URLs every async service is given."""
    services = document["services"]
    nodes = {
        name: s
        for name, s in services.items()
        if str(s.get("image", "")).startswith("nats:") and set(s["profiles"]) & profiles
    }
    urls = {
        compose_environment(s)["LAB_NATS_URL"]
        for s in services.values()
        if (s.get("command") or [None])[0] == "async"
    }
    return nodes, urls


def test_compose_bus_is_one_node_or_a_three_node_cluster_as_lab_up_runs_them() -> None:
    """By default one nats-server (what CI runs under podman); with cluster.env and the
    async-cluster profile three, routed to each other, each on its own volume, every write
    fsynced, the services given every node and R3 (`lab up --bus-nodes 3`)."""
    document = compose()
    nodes, urls = bus_of(substituted(document, {}), {"async"})
    assert list(nodes) == ["nats"] and urls == {"nats://nats:4222"}
    assert "./deploy/compose/nats-server.conf:/etc/nats/lab.conf:ro" in nodes["nats"]["volumes"]
    assert all(
        compose_environment(s).get("LAB_STREAM_REPLICAS") in (None, "1")
        for s in substituted(document, {})["services"].values()
    )

    variables = env_file(ROOT / "deploy" / "compose" / "cluster.env")
    cluster = substituted(document, variables)
    nodes, urls = bus_of(cluster, {"async", "async-cluster"})
    assert sorted(nodes) == ["nats", "nats-1", "nats-2"]
    assert urls == {",".join(f"nats://{n}:4222" for n in sorted(nodes))}  # every node
    config_file = ROOT / "deploy" / "compose" / "nats-cluster.conf"
    config = config_file.read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", config, re.M)
    assert "server_name: $NATS_NODE" in config
    assert set(re.findall(r"nats://([\w-]+):6222", config)) == set(nodes)
    volumes = set()
    for name, node in nodes.items():
        assert node["environment"]["NATS_NODE"] == name
        assert "./deploy/compose/nats-cluster.conf:/etc/nats/lab.conf:ro" in node["volumes"]
        volumes |= {v for v in node["volumes"] if v.endswith(":/data")}
        assert node["image"] == "nats:2.10-alpine"  # the same image as the lone node
    assert len(volumes) == 3  # a store per node
    for service in cluster["services"].values():
        if (service.get("command") or [None])[0] == "async":
            assert compose_environment(service)["LAB_STREAM_REPLICAS"] == "3"


# --- Kubernetes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl not found: the Kubernetes overlays were NOT rendered nor validated"
        warnings.warn(message, stacklevel=2)
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(f"\n{'!' * 100}\n!!! SKIPPED: {message}\n{'!' * 100}", flush=True)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("k8s")
    files = {}
    for overlay in OVERLAYS:
        result = run([kubectl, "kustomize", str(K8S / "overlays" / overlay)])
        assert result.returncode == 0, result.stderr
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(result.stdout)
    return files


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    return None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_overlay_validates_strictly(overlay: str, rendered: dict[str, Path]) -> None:
    result = run(
        [
            tool("kubernetes-validate"),
            "--strict",
            "--quiet",
            "-k",
            KUBERNETES_VERSION,
            str(rendered[overlay]),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_workloads_get_their_own_database_only(
    overlay: str, rendered: dict[str, Path]
) -> None:
    docs = documents(rendered[overlay])
    topology = TOPOLOGY[overlay]
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    workloads = 0
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        workloads += 1
        name = doc["metadata"]["labels"]["app.kubernetes.io/name"]
        own = name.removesuffix("-db")
        own = own if own in topology else None
        containers = spec.get("initContainers", []) + spec["containers"]
        referenced = {
            ref["name"]
            for c in containers
            for e in c.get("env", [])
            for ref in [e.get("valueFrom", {}).get("secretKeyRef")]
            if ref
        }
        referenced |= {e["secretRef"]["name"] for c in containers for e in c.get("envFrom", [])}
        referenced |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        assert referenced <= secrets, f"{name}: unknown Secret {referenced - secrets}"
        allowed = {s for s in secrets if own and re.fullmatch(rf"{own}-db(-[a-z0-9]+)?", s)}
        assert referenced <= allowed, f"{name} reads another service's Secret: {referenced}"
        mentions = foreign_mentions(list(strings(containers)), own)
        assert not mentions, f"{name} is given another service's database: {mentions}"
        if own and name == own and topology[own].owns_database:
            env = {e["name"]: e.get("value", "") for e in spec["containers"][0]["env"]}
            assert f"@{own}-db:5432/" in env["LAB_DSN"], name
            assert referenced, f"{name} has no database credentials"
    assert workloads >= 8
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    for owner, service_spec in topology.items():
        if service_spec.owns_database:
            rule = policies[f"{owner}-db"]["spec"]["ingress"]
            sources = [f["podSelector"]["matchLabels"] for r in rule for f in r["from"]]
            assert sources == [{"app.kubernetes.io/name": owner}], owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_services_as_the_lab_runs_them(overlay: str, rendered: dict[str, Path]) -> None:
    docs = documents(rendered[overlay])
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    hpas = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind["HorizontalPodAutoscaler"].values()
    }
    for name, spec in TOPOLOGY[overlay].items():
        deployment = by_kind["Deployment"][name]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["LAB_IMPL"] == overlay and env["LAB_SERVICE"] == name
        assert ("LAB_DSN" in env) == spec.owns_database, name
        assert ("LAB_NATS_URL" in env) == spec.uses_bus, name
        for peer in spec.peers:
            assert env[f"LAB_{peer.upper()}_ADDR"] == f"{peer}:50051", name
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == 50051, (name, probe)  # native gRPC
        assert deployment["spec"]["replicas"] >= 2 and name in hpas, name
        assert by_kind["Service"][name]["spec"]["clusterIP"] == "None", name  # headless
        if spec.owns_database:
            assert f"{name}-db" in by_kind["StatefulSet"], name
            assert by_kind["Service"][f"{name}-db"]["spec"]["ports"][0]["port"] == 5432
    for doc in docs:
        pod = pod_spec(doc) or {}
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            resources = container.get("resources", {})
            assert resources.get("requests") and resources.get("limits"), doc["metadata"]["name"]
    for name in TOPOLOGY[overlay]:  # scraped where Prometheus runs in-cluster (annotations)
        template = by_kind["Deployment"][name]["spec"]["template"]
        assert_scraped(template, "service", name)
    workers = by_kind["Deployment"]["locust-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert "--worker" in workers["args"] and "/app/locustfile.py" in workers["args"]
    if overlay == "async":
        nats = by_kind["StatefulSet"]["nats"]
        assert nats["spec"]["replicas"] == 3
        config = by_kind["ConfigMap"]["nats-config"]["data"]["nats.conf"]
        assert re.search(r"^\s*sync_interval:\s*always\s*$", config, re.M)
        assert "cluster {" in config
        assert_scraped(nats["spec"]["template"], "exporter", "nats")
        exporter = next(
            c for c in nats["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"
        )
        assert exporter["args"][:3] == ["python", "-m", "lab.stack.bus_exporter"]
        assert exporter["args"][exporter["args"].index("--monitor") + 1] == (
            "http://127.0.0.1:8222"  # its own node's monitoring endpoint
        )
        nodes = [f"nats-{i}.nats" for i in range(nats["spec"]["replicas"])]
        assert re.findall(r"nats://([\w.-]+):6222", config) == nodes  # routes
        for name in TOPOLOGY[overlay]:
            container = by_kind["Deployment"][name]["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value") for e in container["env"]}
            # Every node (failover without a restart); streams and consumers R3.
            assert env["LAB_NATS_URL"] == ",".join(f"nats://{n}:4222" for n in nodes), name
            assert env["LAB_STREAM_REPLICAS"] == "3", name
    else:
        assert "nats" not in by_kind["StatefulSet"]


def assert_scraped(template: dict[str, Any], container_name: str, name: str) -> None:
    """The pod carries the standard scrape annotations, and the container they point at serves
    /metrics on that port."""
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true", name
    assert annotations["prometheus.io/path"] == "/metrics", name
    port = int(annotations["prometheus.io/port"])
    container = next(c for c in template["spec"]["containers"] if c["name"] == container_name)
    assert {"name": "metrics", "containerPort": port} in container["ports"], name
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    if container_name == "service":
        assert env["LAB_METRICS_LISTEN"] == f"0.0.0.0:{port}", name
    else:
        assert f"0.0.0.0:{port}" in container["args"], name
