"""A bare grpc.aio unary echo server: the floor of one gRPC hop (docs/METHOD.md, Calibration)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import grpc

from blog.rpc.server import stop_signal

METHOD = "/lab.calibration.Echo/Echo"


def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def serve(listen: str, ready_file: Path) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "lab.calibration.Echo",
        {"Echo": grpc.unary_unary_rpc_method_handler(_echo)},  # raw bytes in, raw bytes out
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    stop = stop_signal()
    await server.start()
    ready_file.write_text(f"{listen.rsplit(':', 1)[0]}:{port}")
    await stop.wait()
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.ready_file))


if __name__ == "__main__":
    main()
