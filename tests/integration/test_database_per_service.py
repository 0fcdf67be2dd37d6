"""Database per service, for real: separate servers, roles and passwords; no cross access."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from lab.stack.runner import Stack


async def _connect(host: str, port: int, user: str, password: str, database: str) -> str:
    conn = await asyncpg.connect(
        host=host, port=port, user=user, password=password, database=database, timeout=5
    )
    try:
        return await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()


def test_each_data_owner_has_its_own_server(stack: Stack) -> None:
    owners = {name for name, spec in stack.topology.items() if spec.owns_database}
    assert set(stack.databases) == owners
    ports = {db.port for db in stack.databases.values()}
    pids = {db.pid for db in stack.databases.values()}
    dirs = {db.data_dir for db in stack.databases.values()}
    assert len(ports) == len(pids) == len(dirs) == len(owners)


def test_a_service_credentials_open_only_its_own_database(stack: Stack) -> None:
    creds = {name: db.database for name, db in stack.databases.items()}
    for name, own in creds.items():
        assert (
            asyncio.run(_connect(own.host, own.port, own.role, own.password, own.database)) == name
        )
    for mine, theirs in itertools.permutations(creds, 2):
        me, target = creds[mine], creds[theirs]
        # My role and password against their server: the role does not exist there.
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
            asyncio.run(_connect(target.host, target.port, me.role, me.password, target.database))
        # Their role name with my password (a guessed credential) is refused too.
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(
                _connect(target.host, target.port, target.role, me.password, target.database)
            )


def test_a_service_role_cannot_open_other_databases_on_its_server(stack: Stack) -> None:
    own = stack.databases["posts"].database
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(_connect(own.host, own.port, own.role, own.password, "postgres"))
