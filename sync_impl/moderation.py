"""sync moderation service: decides a comment's status when asked (Moderate) and records the
decision in its own database."""

from __future__ import annotations

import asyncio

import grpc

from blog import features
from blog.domain import Moderator
from blog.ports import DecisionLog
from blog.rpc.errors import rpc_method
from blog.rpc.process import Assembly, open_database, run
from blog.rpc.server import service_name
from blog.rpc.settings import ServiceSettings
from blog.store.repositories import DecisionRepository
from blog.v1 import internal_pb2, internal_pb2_grpc
from sync_impl.resilience import adapters_for


class ModerationServicer(internal_pb2_grpc.ModerationServiceServicer):
    def __init__(self, decisions: DecisionLog, moderator: Moderator, delay_s: float = 0.0) -> None:
        self.decisions = decisions
        self.moderator = moderator
        self.delay_s = delay_s

    @rpc_method
    async def Moderate(
        self, request: internal_pb2.ModerateRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.ModerateResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # --moderation-delay-ms: a slow dependency
        decision = await features.moderate(
            self.decisions, self.moderator, request.comment_id, request.post_id, request.content
        )
        return internal_pb2.ModerateResponse(
            status=int(decision.status),  # type: ignore[arg-type]
            reason=decision.reason,
        )


async def assemble(settings: ServiceSettings, assembly: Assembly) -> None:
    adapters_for(settings, assembly)  # calls no peer: only the load shedding, if switched on
    database = await open_database(settings, assembly)
    servicer = ModerationServicer(
        DecisionRepository(database), settings.moderator(), settings.moderation_delay_ms / 1000
    )
    assembly.registrations.append(
        (
            internal_pb2_grpc.add_ModerationServiceServicer_to_server,
            servicer,
            service_name(internal_pb2, "ModerationService"),
        )
    )


def main(argv: list[str] | None = None) -> None:
    run("sync-moderation", "moderation", ["dsn"], assemble, argv)


if __name__ == "__main__":
    main()
