"""The bus exporter's families from nats-server's /jsz, the generated Prometheus configuration and
the recording rules (checked by Prometheus's own promtool when it is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lab.stack.bus_metrics import JetStreamCollector, Jsz, jsz_families
from lab.stack.prometheus import ScrapeTarget, scrape_config
from lab.stack.prometheus_rules import rules_document

ROOT = Path(__file__).resolve().parents[2]

# Trimmed from a real nats-server 2.15 /jsz?streams=true&consumers=true; the second consumer
# as a follower sees it in a cluster (its leader is another server).
JSZ: Jsz = {
    "server_id": "NSELF",
    "account_details": [
        {
            "name": "$G",
            "stream_detail": [
                {
                    "name": "BLOG_EVENTS",
                    "state": {
                        "messages": 5,
                        "bytes": 175,
                        "first_seq": 1,
                        "last_seq": 5,
                        "consumer_count": 2,
                    },
                    "consumer_detail": [
                        {
                            "stream_name": "BLOG_EVENTS",
                            "name": "query",
                            "delivered": {"consumer_seq": 2, "stream_seq": 2},
                            "ack_floor": {"consumer_seq": 1, "stream_seq": 1},
                            "num_ack_pending": 1,
                            "num_redelivered": 0,
                            "num_waiting": 1,
                            "num_pending": 3,
                        },
                        {
                            "stream_name": "BLOG_EVENTS",
                            "name": "comments",
                            "cluster": {"leader": "NOTHER"},
                            "delivered": {"consumer_seq": 5, "stream_seq": 5},
                            "ack_floor": {"consumer_seq": 5, "stream_seq": 5},
                            "num_ack_pending": 0,
                            "num_redelivered": 0,
                            "num_waiting": 0,
                            "num_pending": 0,
                        },
                    ],
                }
            ],
        }
    ],
}


def parsed(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        f.name: [(s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


def test_jetstream_figures_under_the_nats_exporters_names() -> None:
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self) -> list:  # type: ignore[type-arg]
            return jsz_families([JSZ])

    registry.register(Fixed())
    found = parsed(generate_latest(registry).decode())
    pending = {
        labels["consumer_name"]: (labels, v)
        for labels, v in found["jetstream_consumer_num_pending"]
    }
    labels, value = pending["query"]
    assert value == 3
    assert labels == {
        "server_id": "NSELF",
        "account": "$G",
        "stream_name": "BLOG_EVENTS",
        "consumer_name": "query",
        "is_consumer_leader": "true",
    }
    assert pending["comments"][0]["is_consumer_leader"] == "false"
    assert found["jetstream_consumer_num_ack_pending"][0][1] == 1
    assert found["jetstream_stream_total_messages"] == [
        (
            {
                "server_id": "NSELF",
                "account": "$G",
                "stream_name": "BLOG_EVENTS",
                "is_stream_leader": "true",
            },
            5.0,
        )
    ]
    assert found["jetstream_consumer_ack_floor_stream_seq"][0][1] == 1


def test_a_bus_that_does_not_answer_is_reported_down() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JetStreamCollector(["http://127.0.0.1:1"], timeout_s=0.5))
    found = parsed(generate_latest(registry).decode())
    assert found["lab_nats_monitor_up"] == [({"monitor": "http://127.0.0.1:1"}, 0.0)]
    assert "jetstream_consumer_num_pending" not in found  # no figures rather than stale ones


def test_committed_rules_are_the_generated_ones() -> None:
    committed = (ROOT / "deploy" / "prometheus" / "rules.yml").read_text()
    assert committed == rules_document(), (
        "regenerate: python -m lab.stack.prometheus_rules deploy/prometheus/rules.yml"
    )


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    return found


def test_rules_and_generated_configuration_pass_promtool(tmp_path: Path) -> None:
    tool = promtool()
    rules = tmp_path / "rules.yml"
    rules.write_text(rules_document())
    config = tmp_path / "prometheus.yml"
    targets = [
        ScrapeTarget("posts", "127.0.0.1:9001", {"impl": "async", "replica": "0"}),
        ScrapeTarget("query", "127.0.0.1:9002", {"impl": "async", "replica": "0"}),
        ScrapeTarget("query", "127.0.0.1:9003", {"impl": "async", "replica": "1"}),
        ScrapeTarget("nats", "127.0.0.1:9004", {"impl": "async"}),
    ]
    config.write_text(scrape_config(targets, rules))
    for args in (["check", "rules", str(rules)], ["check", "config", str(config)]):
        checked = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_prometheus_configuration_passes_promtool(tmp_path: Path) -> None:
    tool = promtool()
    # As mounted in the container: the rules beside the configuration.
    shutil.copy(ROOT / "deploy" / "prometheus" / "rules.yml", tmp_path / "rules.yml")
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/etc/prometheus/rules.yml", str(tmp_path / "rules.yml")))
    checked = subprocess.run(
        [tool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
