"""Time echo round trips with the load generator's own client stack (gevent-patched blocking
gRPC, as under Locust): the floor of the first hop, client included. Prints JSON.

Usage: python -m benchmarks.floor.client_echo ADDRESS N
"""

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import grpc  # noqa: E402

from benchmarks.floor.echo_server import METHOD  # noqa: E402
from benchmarks.load.hdr import new_histogram, record, summary  # noqa: E402


def main() -> None:
    address, n = sys.argv[1], int(sys.argv[2])
    hist = new_histogram()
    with grpc.insecure_channel(address) as channel:
        echo = channel.unary_unary(METHOD)
        payload = b"x" * 100
        for i in range(n + max(10, n // 10)):
            start = time.perf_counter()
            echo(payload, timeout=5)
            if i >= max(10, n // 10):  # after the warm-up calls
                record(hist, (time.perf_counter() - start) * 1e6)
    print(json.dumps({**summary(hist), "hdr": hist.encode().decode()}))


if __name__ == "__main__":
    main()
