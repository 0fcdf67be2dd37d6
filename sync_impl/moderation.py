"""sync moderation service: decides a comment's status and records it in its own database."""

from __future__ import annotations

import grpc

from blog.v1 import internal_pb2, internal_pb2_grpc
from lab import handlers
from lab.config import ServiceSettings
from lab.db import Database
from lab.domain import Moderator
from lab.rpc import rpc_method, service_name
from lab.service import Wiring, open_database, run


class ModerationServicer(internal_pb2_grpc.ModerationServiceServicer):
    def __init__(self, db: Database, moderator: Moderator, delay_s: float = 0.0) -> None:
        self.db = db
        self.moderator = moderator
        self.delay_s = delay_s

    @rpc_method
    async def Moderate(
        self, request: internal_pb2.ModerateRequest, context: grpc.aio.ServicerContext
    ) -> internal_pb2.ModerateResponse:
        decision = await handlers.moderate(
            self.db,
            self.moderator,
            request.comment_id,
            request.post_id,
            request.content,
            self.delay_s,
        )
        return internal_pb2.ModerateResponse(
            status=int(decision.status),  # type: ignore[arg-type]
            reason=decision.reason,
        )


async def build(settings: ServiceSettings, wiring: Wiring) -> None:
    db = await open_database("moderation", settings, wiring)
    servicer = ModerationServicer(db, settings.moderator(), settings.moderation_delay_ms / 1000)
    wiring.registrations.append(
        (
            internal_pb2_grpc.add_ModerationServiceServicer_to_server,
            servicer,
            service_name(internal_pb2, "ModerationService"),
        )
    )


def main(argv: list[str] | None = None) -> None:
    run("sync-moderation", "moderation", ["dsn"], build, argv)


if __name__ == "__main__":
    main()
