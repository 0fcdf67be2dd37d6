"""What the fault proxy costs per exchange, on its own (docs/METHOD.md, Gray faults): a
request/answer of `--size` bytes to an echo server, direct and through a clear link of the
proxy (lab/stack/linkproxy.py), alternated `--rounds` times; prints the proxy's CPU per
exchange and the round trip's median and p99 each way.

    python -m benchmarks.floor.proxy_cost [--exchanges 4000] [--connections 8] [--rounds 3]

The stack-level figure (every operation's latency and CPU with and without the proxies in the
path) is `lab bench --fault-proxies` against `lab bench`, compared by `lab compare`.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from lab.stack.links import LinkPair
from lab.stack.proxies import FaultProxies

ECHO = """
import asyncio
async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def exchanges(address: tuple[str, int], count: int, size: int, times: list[float]) -> None:
    payload = b"x" * size
    with socket.create_connection(address) as conn:
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(payload)
            received = 0
            while received < size:
                received += len(conn.recv(65536))
            times.append(time.perf_counter() - started)


def measure(
    address: tuple[str, int], proxy: psutil.Process, total: int, connections: int, size: int
) -> tuple[float, list[float]]:
    """(the proxy's CPU seconds, every exchange's round trip in seconds)."""
    before = proxy.cpu_times()
    times: list[float] = []
    threads = [
        threading.Thread(target=exchanges, args=(address, total // connections, size, times))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = proxy.cpu_times()
    return (after.user + after.system) - (before.user + before.system), times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--size", type=int, default=300, help="bytes each way per exchange")
    parser.add_argument("--rounds", type=int, default=3, help="direct/proxied alternations")
    args = parser.parse_args(argv)
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    work = Path(tempfile.mkdtemp(prefix="proxy-cost-"))
    proxies = FaultProxies(work, work)
    try:
        assert echo.stdout is not None
        server = f"127.0.0.1:{int(echo.stdout.readline())}"
        proxies.start()
        assert proxies.pid is not None
        proxy = psutil.Process(proxies.pid)
        host, port = proxies.address(LinkPair("client", "server"), server).rsplit(":", 1)
        routes = {
            "direct": ("127.0.0.1", int(server.rsplit(":", 1)[1])),
            "proxied": (host, int(port)),
        }
        print(
            f"{args.exchanges} exchanges of {args.size} B each way, {args.connections} connections"
        )
        for round_ in range(1, args.rounds + 1):
            for label, address in routes.items():
                cpu, times = measure(address, proxy, args.exchanges, args.connections, args.size)
                median_us = statistics.median(times) * 1e6
                p99_us = statistics.quantiles(times, n=100)[98] * 1e6
                print(
                    f"round {round_} {label:8} round trip median {median_us:6.0f} us, p99 "
                    f"{p99_us:6.0f} us; proxy CPU {cpu / len(times) * 1e6:5.1f} us per exchange"
                )
    finally:
        proxies.stop()
        echo.kill()
        echo.wait()


if __name__ == "__main__":
    main()
