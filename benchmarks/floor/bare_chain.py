"""A bare chain: servers that make an operation's hops, reads and commits and do nothing else.

The benchmark sweeps it with the same scenario mix and generator as the real implementation; the
real capacity as a share of the bare chain's says what the implementation's own work costs
(validation, protobuf messages, domain code). One server per service role, on the same
PostgreSQL servers as the stack under test (in a table of its own), on grpc.aio with a generic
handler: bytes in, bytes out.

A plan, sent as JSON with each request, says what the receiving server does: call peers in
parallel ("par"), then one after the other ("seq"), then `r` primary-key reads and `c` one-row
INSERT commits on its database, and with "pub" hand the event its last commit wrote to its relay.

Beside an async stack the bare chain also does the async system's work off the request path
(`background`, the default there; benchmarks/floor/bare_background.py): each write's event
published to JetStream and each consuming role's commit per event. That is the floor the async
capacity is a share of (docs/METHOD.md, Calibration); background=False gives the request path
alone. Each server gets its database's DSN and the bus URL in its environment (LAB_DSN,
LAB_NATS_URL), never in argv: `ps` shows argv to every local user.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypedDict

import grpc
from nats.js import JetStreamContext

from async_impl.bus import connect as connect_bus
from benchmarks.floor import bare_background as background_work
from benchmarks.floor.shapes import Plan, chain_plans, consumed_by
from blog.rpc.channels import channel_options, grpc_target
from blog.rpc.server import stop_signal
from blog.store.pool import Database
from lab.stack.net import free_port, wait_healthy
from lab.stack.processes import ManagedProcess
from lab.stack.stackfile import StackInfo, bus_urls
from lab.stack.topology import SERVICES

METHOD = "/lab.bare.Chain/Step"
TABLE = "lab_bare_chain"
# A commit; its row id is what a published event's relay deletes once the event is on the bus.
INSERT = f"INSERT INTO {TABLE} (v) VALUES ('x') RETURNING id"

# Per implementation and operation: (entry role, plan), derived from the operations' shapes
# (shapes.OPERATIONS), like the floor's (calibration.SHAPES): the request path alone, and with
# the events each write publishes (async; sync has no work off its request path).
PLANS: dict[str, dict[str, tuple[str, Plan]]] = chain_plans()
BACKGROUND_PLANS: dict[str, dict[str, tuple[str, Plan]]] = chain_plans(background=True)


class ChainServer:
    def __init__(
        self,
        db: Database | None,
        peers: dict[str, str],
        relay: background_work.BareRelay | None = None,
    ) -> None:
        self.db = db
        self.relay = relay
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
                row_id = None
                for _ in range(plan.get("c", 0)):
                    row_id = await conn.fetchval(INSERT)
            if plan.get("pub"):
                # After the commit, off the request path: the relay publishes it later.
                assert self.relay is not None and row_id is not None, "pub without a relay"
                self.relay.hand_over(plan["pub"], int(row_id))
        return b"ok"

    async def _call(self, role: str, plan: Plan) -> None:
        await self.calls[role](json.dumps(plan).encode(), timeout=5)


async def serve(port: int, role: str, dsn: str, nats_url: str, peers: dict[str, str]) -> None:
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
    nc = None
    relay = None
    tasks: list[asyncio.Task[None]] = []
    if nats_url and db is not None:
        nc = await connect_bus(nats_url, name=f"bare-{role}")
        js = nc.jetstream()
        relay = background_work.BareRelay(db, js, TABLE)
        tasks.append(asyncio.create_task(relay.run(), name="bare-relay"))
        if consumed_by(role):
            consumer = background_work.BareConsumer(role, nc, js, db, TABLE, relay)
            tasks.append(asyncio.create_task(consumer.run(), name="bare-consumer"))
    chain = ChainServer(db, peers, relay)
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
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if nc is not None:
        await nc.close()
    if db is not None:
        async with db.connect() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await db.dispose()


class ChainRoutes(TypedDict):
    """bare-chain-routes.json, read by the load generator (--lab-bare)."""

    addresses: dict[str, str]  # role -> host:port
    plans: dict[str, tuple[str, Plan]]  # operation -> (entry role, plan)


class BareChain:
    """The four role servers of a bare chain, beside a running stack (using its databases and,
    with `background`, its bus). background=None: with background work beside an async stack
    (the fair floor for async), without beside a sync one (it has none)."""

    def __init__(self, stack: StackInfo, log_dir: Path, background: bool | None = None) -> None:
        self.stack = stack
        self.log_dir = log_dir
        self.background = "bus" in stack if background is None else background
        if self.background and "bus" not in stack:
            raise ValueError("a bare chain with background work needs a stack with a bus")
        self.addresses = {role: f"127.0.0.1:{free_port()}" for role in SERVICES}
        self.processes: list[ManagedProcess] = []

    def start(self) -> None:
        peers = [f"{role}={addr}" for role, addr in self.addresses.items()]
        try:
            if self.background:
                replicas = self.stack["bus"].get("stream_replicas", 1)
                asyncio.run(self._with_bus(lambda js: background_work.ensure_stream(js, replicas)))
            for role, address in self.addresses.items():
                database = self.stack["databases"].get(role)
                env = dict(os.environ)
                env["LAB_DSN"] = database["dsn"] if database else ""  # not argv: ps shows argv
                env["LAB_NATS_URL"] = self._bus_url() if self.background else ""
                port = address.rsplit(":", 1)[1]
                args = [sys.executable, "-m", "benchmarks.floor.bare_chain", "--port", port]
                args += ["--role", role, *peers]
                log = self.log_dir / f"bare-{role}.log"
                self.processes.append(ManagedProcess.start(f"bare-{role}", args, log, env=env))
            for address in self.addresses.values():
                wait_healthy(address, timeout_s=30)
        except BaseException:
            self.stop()
            raise

    def _bus_url(self) -> str:
        """Every node of the stack's bus (url,url,...), as the services get it: failover."""
        return ",".join(bus_urls(self.stack))

    def routes(self, impl: str) -> ChainRoutes:
        """What the generator needs: where each role is, and each operation's plan."""
        plans = BACKGROUND_PLANS if self.background else PLANS
        return {"addresses": self.addresses, "plans": plans[impl]}

    def wait_quiet(self, timeout_s: float = 120.0) -> None:
        """With background work: until every consumer has applied every event (an overloaded
        step leaves a backlog the next one must not pay for)."""
        if self.background and not asyncio.run(self._caught_up(timeout_s)):
            raise RuntimeError(f"the bare chain's consumers did not catch up in {timeout_s:.0f}s")

    async def _caught_up(self, timeout_s: float) -> bool:
        nc = await connect_bus(self._bus_url(), name="bare-chain-harness")
        try:
            return await background_work.caught_up(nc.jetstream(), timeout_s)
        finally:
            await nc.close()

    async def _with_bus(self, action: Callable[[JetStreamContext], Awaitable[None]]) -> None:
        nc = await connect_bus(self._bus_url(), name="bare-chain-harness")
        try:
            await action(nc.jetstream())
        finally:
            await nc.close()

    def stop(self) -> None:
        for process in self.processes:
            process.stop("SIGTERM", timeout_s=10)
        self.processes = []
        if self.background:
            try:
                asyncio.run(asyncio.wait_for(self._with_bus(background_work.delete_stream), 10))
            except Exception as error:  # the bus may be gone (a stopped stack): nothing to keep
                print(f"bare chain: stream not deleted: {error}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--role", required=True, choices=SERVICES)
    parser.add_argument("peers", nargs="*", help="role=host:port of every role")
    args = parser.parse_args()
    peers = dict(p.split("=", 1) for p in args.peers)
    # This role's database ('' for none) and the bus (''; set: the work off the request path).
    dsn, nats_url = os.environ.get("LAB_DSN", ""), os.environ.get("LAB_NATS_URL", "")
    asyncio.run(serve(args.port, args.role, dsn, nats_url, peers))


if __name__ == "__main__":
    main()
