"""Locust started by hand the way the README shows it (headless here, for 6 s), with no seed file:
every operation of the mix must reach Locust's statistics, and nothing may fail inside the
generator. And the chaos scenario's per-request log (--lab-request-log). And its web UI as a user
first sees it: the Host field and header name the stack it drives (`stack:PATH`), no notice asks
for a host (Locust's own web API; and in Debian's headless Chromium, with a screenshot), and a
swarm started with the field as it was filled drives the stack."""

from __future__ import annotations

import csv
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.load.scenarios import SCENARIOS
from lab.chaos.records import WRITES, read_request_log
from lab.stack.runner import Stack
from tests.helpers import eventually, start_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sync_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack("sync", tmp_path_factory.mktemp("locust-ui-stack"))
    try:
        yield stack
    finally:
        stack.stop()


def run_locust(stack: Stack, scenario: str, prefix: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "locust", "-f", "benchmarks/locustfile.py"]
    command += ["--lab-stack", str(stack.stack_file), "--lab-scenario", scenario, *extra]
    command += ["--headless", "-u", "5", "-r", "5", "-t", "6s", "--csv", str(prefix)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    # 1: some requests failed (Locust's exit code); the checks below say which.
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]


def stats_rows(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv") as rows:
        return {row["Name"]: row for row in csv.DictReader(rows) if row["Name"] != "Aggregated"}


def generator_failures(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_failures.csv") as rows:
        return [row for row in csv.DictReader(rows) if "GENERATOR_" in row["Error"]]


def test_readme_command_without_seed_file_shows_every_operation(
    sync_stack: Stack, tmp_path: Path
) -> None:
    prefix = tmp_path / "locust"
    run_locust(sync_stack, "mixed", prefix)
    rows = stats_rows(prefix)
    for op in SCENARIOS["mixed"]:
        assert op in rows, (op, sorted(rows))
        assert int(rows[op]["Request Count"]) > 0, rows[op]
    assert generator_failures(prefix) == []


def test_chaos_scenario_writes_a_request_log(sync_stack: Stack, tmp_path: Path) -> None:
    prefix, log_dir = tmp_path / "locust", tmp_path / "requests"
    started = time.time()
    run_locust(sync_stack, "chaos", prefix, "--lab-rate", "20", "--lab-request-log", str(log_dir))
    finished = time.time()
    assert generator_failures(prefix) == []
    rows = stats_rows(prefix)
    assert set(SCENARIOS["chaos"]) <= set(rows)

    files = sorted(log_dir.glob("requests-*.jsonl"))
    assert len(files) == 1  # one generator process
    records = read_request_log(files)
    assert {r.op for r in records} == set(SCENARIOS["chaos"])
    assert not [r for r in records if r.status.startswith("GENERATOR_")]
    for r in records:
        assert started - 1 < r.scheduled <= r.end < finished + 1, r  # wall clock
        if r.op in WRITES:
            assert r.request_id, r
            assert r.id or not r.ok, r
        else:
            assert not r.request_id and not r.id, r
        if r.op in ("CreateComment", "GetPost", "ListComments", "GetPostView"):
            assert r.post_id, r
    assert len({r.request_id for r in records if r.op in WRITES}) == sum(
        r.op in WRITES for r in records
    )
    # The chaos scenario comments on (and reads) the posts it created lately, once there are any.
    created = {r.id for r in records if r.op == "CreatePost" and r.ok}
    comments = [r for r in records if r.op == "CreateComment"]
    assert sum(r.post_id in created for r in comments) > len(comments) / 2


# --- the web UI -------------------------------------------------------------------------------
# Locust's notice when a user class has no host (the first screen would ask for a meaningless one).
NO_HOST_NOTICE = "has no host attribute"
# Debian's Chromium as root on a closed network: no sandbox, and no background connections
# (they are refused here, many at a time).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
    "--virtual-time-budget=5000",  # let the page's JavaScript render it
]


@pytest.fixture(scope="module")
def web_ui(sync_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Locust's web UI as the README starts it, on a free loopback port: its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("locust-web") / "locust.log"
    command = [sys.executable, "-m", "locust", "-f", "benchmarks/locustfile.py"]
    command += ["--lab-stack", str(sync_stack.stack_file), "--lab-scenario", "mixed"]
    command += ["--web-host", "127.0.0.1", "--web-port", str(port)]
    with open(log, "w") as out:
        locust = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: get(url + "/"), timeout_s=30)
        yield url
    finally:
        locust.terminate()
        try:
            locust.wait(timeout=20)
        except subprocess.TimeoutExpired:
            locust.kill()
            locust.wait()


def get(url: str, data: bytes | None = None) -> str:
    """The body at `url` (POST when `data` is given); AssertionError until it answers."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=5) as reply:
            return str(reply.read().decode())
    except OSError as error:
        raise AssertionError(f"{url}: {error}") from error


def template_args(page: str) -> dict[str, Any]:
    """What Locust's start page renders from (window.templateArgs = {...})."""
    found = re.search(r"window\.templateArgs = (\{.*?\})\s*$", page, re.MULTILINE)
    assert found, page[:2000]
    return dict(json.loads(found.group(1)))


def test_web_ui_names_the_stack_it_drives(web_ui: str, sync_stack: Stack) -> None:
    args = template_args(get(web_ui + "/"))
    assert args["host"] == f"stack:{sync_stack.stack_file}"
    assert args["missing_host_warning"] is False
    assert args["override_host_warning"] is False


@pytest.mark.timeout(300)  # each of the two browser runs is given 120 s
def test_web_ui_start_page_in_chromium(web_ui: str, sync_stack: Stack, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium): the start page was "
            "checked through Locust's web API only (test_web_ui_names_the_stack_it_drives)"
        )
    browser = [chromium, *CHROMIUM_FLAGS]
    screenshot = tmp_path / "locust-start-page.png"
    shot = [*browser, f"--user-data-dir={tmp_path / 'profile-1'}", f"--screenshot={screenshot}"]
    subprocess.run([*shot, web_ui + "/"], capture_output=True, timeout=120, check=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nthe Locust start page as a user sees it: {screenshot}")
    dump = [*browser, f"--user-data-dir={tmp_path / 'profile-2'}", "--dump-dom", web_ui + "/"]
    dom = subprocess.run(dump, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "START" in dom.upper() and "Host" in dom  # the page rendered
    assert f"stack:{sync_stack.stack_file}" in dom  # the header (and the field) name the stack
    assert NO_HOST_NOTICE not in dom


def test_a_swarm_from_the_filled_in_host_drives_the_stack(web_ui: str) -> None:
    host = template_args(get(web_ui + "/"))["host"]
    form = urllib.parse.urlencode({"user_count": 4, "spawn_rate": 4, "host": host}).encode()
    assert json.loads(get(web_ui + "/swarm", form))["success"] is True

    def every_operation_ran() -> dict[str, Any]:
        stats = {s["name"]: s for s in json.loads(get(web_ui + "/stats/requests"))["stats"]}
        for op in SCENARIOS["mixed"]:
            assert stats.get(op, {}).get("num_requests", 0) > 0, sorted(stats)
        return stats

    try:
        stats = eventually(every_operation_ran, timeout_s=60)
    finally:
        get(web_ui + "/stop", b"")
    assert {op: stats[op]["num_failures"] for op in SCENARIOS["mixed"]} == dict.fromkeys(
        SCENARIOS["mixed"], 0
    )
