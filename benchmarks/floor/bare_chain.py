"""A bare chain: servers that make an operation's hops, reads and commits and do nothing else.

The benchmark sweeps it with the same scenario mix and generator as the real implementation; the
real capacity as a share of the bare chain's says what the implementation's own work costs
(validation, protobuf messages, domain code, and for async the relay and consumers running
beside). One server per service role, on the same PostgreSQL servers as the stack under test
(in a table of its own), on grpc.aio with a generic handler: bytes in, bytes out.

A plan, sent as JSON with each request, says what the receiving server does: call peers in
parallel ("par"), then one after the other ("seq"), then `r` primary-key reads and `c` one-row
INSERT commits on its database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TypedDict

import grpc

from benchmarks.floor.shapes import Plan, chain_plans
from blog.rpc.channels import channel_options, grpc_target
from blog.rpc.server import stop_signal
from blog.store.pool import Database
from lab.stack.net import free_port, wait_healthy
from lab.stack.processes import ManagedProcess
from lab.stack.stackfile import StackInfo
from lab.stack.topology import SERVICES

METHOD = "/lab.bare.Chain/Step"
TABLE = "lab_bare_chain"

# Per implementation and operation: (entry role, plan), derived from the operations' shapes
# (shapes.OPERATIONS), like the floor's (calibration.SHAPES).
PLANS: dict[str, dict[str, tuple[str, Plan]]] = chain_plans()


class ChainServer:
    def __init__(self, db: Database | None, peers: dict[str, str]) -> None:
        self.db = db
        self.calls = {
            role: grpc.aio.insecure_channel(
                grpc_target(addr), options=channel_options()
            ).unary_unary(METHOD)
            for role, addr in peers.items()
        }

    async def step(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        plan = json.loads(request)
        if plan.get("par"):
            await asyncio.gather(*(self._call(role, sub) for role, sub in plan["par"]))
        for role, sub in plan.get("seq", []):
            await self._call(role, sub)
        if plan.get("r") or plan.get("c"):
            assert self.db is not None, "a plan reads or writes where no database is"
            async with self.db.connect() as conn:
                for _ in range(plan.get("r", 0)):
                    await conn.fetchrow(f"SELECT id, v FROM {TABLE} WHERE id = 0")
                for _ in range(plan.get("c", 0)):
                    await conn.execute(f"INSERT INTO {TABLE} (v) VALUES ('x')")
        return b"ok"

    async def _call(self, role: str, plan: Plan) -> None:
        await self.calls[role](json.dumps(plan).encode(), timeout=5)


async def serve(port: int, dsn: str, peers: dict[str, str]) -> None:
    from grpc_health.v1 import health as grpc_health
    from grpc_health.v1 import health_pb2_grpc

    db = None
    if dsn:
        db = Database("bare", dsn)
        await db.open()
        async with db.connect() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, v text)"
            )
            # Row 0 is the one reads fetch (the sequence of new rows starts at 1).
            await conn.execute(
                f"INSERT INTO {TABLE} (id, v) VALUES (0, 'x') ON CONFLICT DO NOTHING"
            )
    chain = ChainServer(db, peers)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "lab.bare.Chain", {"Step": grpc.unary_unary_rpc_method_handler(chain.step)}
            ),
        )
    )
    health_pb2_grpc.add_HealthServicer_to_server(grpc_health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    stop = stop_signal()
    await server.start()
    await stop.wait()
    await server.stop(1)
    if db is not None:
        async with db.connect() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await db.dispose()


class ChainRoutes(TypedDict):
    """bare-chain-routes.json, read by the load generator (--lab-bare)."""

    addresses: dict[str, str]  # role -> host:port
    plans: dict[str, tuple[str, Plan]]  # operation -> (entry role, plan)


class BareChain:
    """The four role servers of a bare chain, beside a running stack (using its databases)."""

    def __init__(self, stack: StackInfo, log_dir: Path) -> None:
        self.stack = stack
        self.log_dir = log_dir
        self.addresses = {role: f"127.0.0.1:{free_port()}" for role in SERVICES}
        self.processes: list[ManagedProcess] = []

    def start(self) -> None:
        peers = [f"{role}={addr}" for role, addr in self.addresses.items()]
        try:
            for role, address in self.addresses.items():
                database = self.stack["databases"].get(role)
                env = dict(os.environ)
                env["LAB_DSN"] = database["dsn"] if database else ""  # not argv: ps shows argv
                port = address.rsplit(":", 1)[1]
                args = [sys.executable, "-m", "benchmarks.floor.bare_chain", "--port", port]
                args += peers
                log = self.log_dir / f"bare-{role}.log"
                self.processes.append(ManagedProcess.start(f"bare-{role}", args, log, env=env))
            for address in self.addresses.values():
                wait_healthy(address, timeout_s=30)
        except BaseException:
            self.stop()
            raise

    def routes(self, impl: str) -> ChainRoutes:
        """What the generator needs: where each role is, and each operation's plan."""
        return {"addresses": self.addresses, "plans": PLANS[impl]}

    def stop(self) -> None:
        for process in self.processes:
            process.stop("SIGTERM", timeout_s=10)
        self.processes = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("peers", nargs="*", help="role=host:port of every role")
    args = parser.parse_args()
    peers = dict(p.split("=", 1) for p in args.peers)
    # This role's database ('' for none): from the environment, as the services get theirs.
    asyncio.run(serve(args.port, os.environ.get("LAB_DSN", ""), peers))


if __name__ == "__main__":
    main()
