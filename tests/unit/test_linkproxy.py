"""The fault proxy (lab.stack.linkproxy, a real process driven through lab.stack.proxies) and the
packet-loss rules (lab.stack.packetloss), against a local echo server on loopback.

Tolerance of the added latency (docs/METHOD.md, Gray faults): a round trip through a link slowed
by D ms takes at least D - 10 % (the jitter) and, on this shared machine, at most D + 10 % +
50 ms; the lower bound is the proxy's promise, the upper one only a sanity bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.stack.errors import StackError
from lab.stack.links import LinkPair
from lab.stack.packetloss import PacketLoss, lab_tables, nft_available
from lab.stack.proxies import FaultProxies
from lab.stack.toxics import Behaviour

PAIR = LinkPair("comments", "posts")
LINK = frozenset({PAIR})


class EchoServer:
    """Echoes every byte back on each connection, from a thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.sock.close()


@pytest.fixture
def proxy(tmp_path: Path, echo: EchoServer) -> Iterator[tuple[FaultProxies, tuple[str, int]]]:
    proxies = FaultProxies(tmp_path, tmp_path)
    proxies.start()
    host, port = proxies.address(PAIR, echo.address, 0).rsplit(":", 1)
    try:
        yield proxies, (host, int(port))
    finally:
        proxies.stop()


def round_trip_ms(conn: socket.socket, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    conn.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = conn.recv(65536)
        assert chunk, "the link closed the connection"
        received += chunk
    assert received == payload
    return (time.perf_counter() - started) * 1000


def exchange_is_reset(address: tuple[str, int]) -> None:
    """A new connection is reset: at connect (when the RST beats the handshake's end to the
    client), on sending or on reading."""
    with pytest.raises(ConnectionResetError):
        with socket.create_connection(address, timeout=5) as conn:
            conn.sendall(b"x")
            conn.recv(10)


def test_a_clear_link_forwards_both_ways(proxy: tuple[FaultProxies, tuple[str, int]]) -> None:
    proxies, address = proxy
    with socket.create_connection(address, timeout=5) as conn:
        for size in (1, 1000, 300_000):
            round_trip_ms(conn, os.urandom(size))
    link = proxies.stats()["comments>posts#0"]
    assert link["accepted"] == 1 and link["bytes_up"] == link["bytes_down"] == 301_001
    assert proxies.names(LINK) == ["comments>posts#0"]
    # The client gets the link's address; the server is where it was.
    assert proxies.links["comments>posts#0"]["listen"] == f"{address[0]}:{address[1]}"


def test_latency_is_added_to_every_round_trip(proxy: tuple[FaultProxies, tuple[str, int]]) -> None:
    proxies, address = proxy
    with socket.create_connection(address, timeout=5) as conn:
        names, connections = proxies.set(LINK, Behaviour.slow(100))
        assert names == ["comments>posts#0"] and connections == 1
        slowed = [round_trip_ms(conn) for _ in range(5)]
        proxies.clear(LINK)
        cleared = round_trip_ms(conn)
    assert all(90 - 1 <= ms <= 110 + 50 for ms in slowed), slowed
    assert cleared < 90, cleared


def test_a_delayed_chunk_never_overtakes_the_one_ahead(
    proxy: tuple[FaultProxies, tuple[str, int]],
) -> None:
    proxies, address = proxy
    proxies.set(LINK, Behaviour(latency_ms=20, jitter_ms=20))  # delays from 0 to 40 ms
    sent = b"".join(f"{n:06d};".encode() for n in range(1000))
    with socket.create_connection(address, timeout=10) as conn:
        for n in range(0, len(sent), 140):  # 50 writes 2 ms apart: each its own chunk
            conn.sendall(sent[n : n + 140])
            time.sleep(0.002)
        received = b""
        while len(received) < len(sent):
            received += conn.recv(65536)
    assert received == sent
    assert proxies.stats()["comments>posts#0"]["delayed_chunks"] > 1


def test_an_end_keeps_its_place_behind_delayed_data(
    proxy: tuple[FaultProxies, tuple[str, int]],
) -> None:
    proxies, address = proxy
    proxies.set(LINK, Behaviour.slow(100))
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"last words")
        conn.shutdown(socket.SHUT_WR)  # the echo server answers, then closes its side
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received == b"last words"


def test_a_blackhole_holds_and_then_delivers(proxy: tuple[FaultProxies, tuple[str, int]]) -> None:
    proxies, address = proxy
    with socket.create_connection(address, timeout=5) as open_before:
        round_trip_ms(open_before)
        proxies.set(LINK, Behaviour(hold=True))
        open_before.sendall(b"held")
        open_before.settimeout(0.5)
        with pytest.raises(TimeoutError):  # silent, not closed (a close would return b"")
            open_before.recv(10)
        # A new connection is accepted and left waiting too: nothing refuses.
        with socket.create_connection(address, timeout=5) as opened_during:
            opened_during.sendall(b"new")
            opened_during.settimeout(0.5)
            with pytest.raises(TimeoutError):
                opened_during.recv(10)
            proxies.clear(LINK)
            opened_during.settimeout(5)
            assert opened_during.recv(10) == b"new"
        open_before.settimeout(5)
        assert open_before.recv(10) == b"held"  # what was held flows on


def test_reset_resets_open_and_new_connections(
    proxy: tuple[FaultProxies, tuple[str, int]],
) -> None:
    proxies, address = proxy
    with socket.create_connection(address, timeout=5) as conn:
        round_trip_ms(conn)
        proxies.set(LINK, Behaviour(refuse=True))
        with pytest.raises(ConnectionResetError):
            conn.recv(10)
    exchange_is_reset(address)
    proxies.clear(LINK)
    with socket.create_connection(address, timeout=5) as conn:
        round_trip_ms(conn)
    assert proxies.stats()["comments>posts#0"]["reset"] == 2


def test_a_share_of_exchanges_is_reset(proxy: tuple[FaultProxies, tuple[str, int]]) -> None:
    proxies, address = proxy
    proxies.set(LINK, Behaviour(reset_share=0.5))
    outcomes = []
    for _ in range(60):
        with socket.create_connection(address, timeout=5) as conn:
            try:
                round_trip_ms(conn)
                outcomes.append("ok")
            except (ConnectionResetError, AssertionError):
                outcomes.append("reset")
    # Each exchange has two chunks, each reset with probability 0.5: ~75 % reset. Bounds that
    # fail with a probability below 1e-6.
    assert 25 <= outcomes.count("reset") <= 59, outcomes


def test_a_refused_server_is_a_reset_link(tmp_path: Path) -> None:
    proxies = FaultProxies(tmp_path, tmp_path)
    proxies.start()
    try:
        with socket.create_server(("127.0.0.1", 0)) as closed:
            gone = f"127.0.0.1:{closed.getsockname()[1]}"
        host, port = proxies.address(PAIR, gone).rsplit(":", 1)
        exchange_is_reset((host, int(port)))
        with pytest.raises(StackError, match="no such link"):
            proxies._call({"op": "set", "names": ["nope"], "behaviour": {}})
    finally:
        proxies.stop()
    assert not (tmp_path / "fault-proxy.sock").exists()


# --- packet loss (nftables) ------------------------------------------------------------------
needs_nft = pytest.mark.skipif(
    not nft_available() or os.geteuid() != 0, reason="needs nftables and root"
)


def ruleset() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


@needs_nft
def test_packet_loss_rules_come_and_go(tmp_path: Path) -> None:
    loss = PacketLoss(tmp_path / "nft.log")
    try:
        loss.drop([40001, 40002], 10)
        loss.drop([40001], 2.5)
        listed = ruleset()
        assert loss.table in listed
        assert "tcp dport 40001 numgen random mod 10000 < 250 drop" in listed
        assert "tcp sport 40002 numgen random mod 10000 < 1000 drop" in listed
        loss.stop_dropping([40002])
        assert "40002" not in ruleset() and "40001" in ruleset()
        loss.stop_dropping([40001])  # the last rule: the table goes with its nft process
        assert loss.table not in lab_tables() and loss.process is None
    finally:
        loss.close()


@needs_nft
def test_packet_loss_outlives_no_owner(tmp_path: Path) -> None:
    """A SIGKILLed owner (the runner) leaves no table: the kernel deletes an owner table with
    the nft process, which dies with its parent."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from lab.stack.packetloss import PacketLoss\n"
        f"loss = PacketLoss(Path({str(tmp_path / 'nft.log')!r}))\n"
        "loss.drop([40003], 50)\n"
        "print(loss.table, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    table = owner.stdout.readline().strip()
    assert table and table in lab_tables()
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 5
    while table in lab_tables() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert table not in lab_tables()
