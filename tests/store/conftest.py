"""Store tests run on both backends: SQLite in a temporary directory, and the local PostgreSQL.

PostgreSQL is expected at 127.0.0.1:5432, database ``test``, trust authentication for ``root``
or ``postgres`` (override with ``RINGFENCE_TEST_PG``). The session fixture starts the local
cluster when it is down, and fails (never skips) when it cannot be reached: a green run means
both backends were tested. Each test gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ringfence.accounts import TenantId
from ringfence.store import Store, StoredBinding

PG_CANDIDATES = (
    [os.environ["RINGFENCE_TEST_PG"]]
    if os.environ.get("RINGFENCE_TEST_PG")
    else [
        "postgresql://root@127.0.0.1:5432/test",
        "postgresql://postgres@127.0.0.1:5432/test",
    ]
)


def _reachable() -> tuple[str | None, list[str]]:
    errors: list[str] = []
    for url in PG_CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=3) as connection:
                connection.execute("SELECT 1")
            return url, errors
        except psycopg.Error as error:
            errors.append(f"{url}: {str(error).strip().splitlines()[0]}")
    return None, errors


def _start_cluster() -> str:
    etc = Path("/etc/postgresql")
    versions = sorted(p.name for p in etc.iterdir()) if etc.is_dir() else []
    if not versions:
        return "no cluster under /etc/postgresql (is the postgresql package installed?)"
    result = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL; starts the local cluster if needed."""
    url, errors = _reachable()
    if url is not None:
        return url
    started = _start_cluster()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        url, errors = _reachable()
        if url is not None:
            return url
        time.sleep(0.3)
    raise RuntimeError(
        "PostgreSQL is not reachable for the store tests: "
        + "; ".join(errors)
        + (f" (pg_ctlcluster said: {started})" if started else "")
    )


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty schema of its own (search_path), dropped after the test."""
    schema = f"rf_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ringfence.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    opened = Store.open(db_url)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_binding() -> Callable[..., StoredBinding]:
    """A factory of plausible bindings: ``make_binding(tenant_id, ext, contact=..., ...)``."""

    def make(tenant_id: TenantId, ext: str, **changes: object) -> StoredBinding:
        values: dict[str, object] = {
            "tenant_id": tenant_id,
            "ext": ext,
            "contact": f"<sip:{ext}@192.0.2.10:5060;transport=udp>;expires=3600",
            "expires_at": 1_700_003_600.0,
            "call_id": f"reg-{ext}@192.0.2.10",
            "cseq": 1,
            "transport": "UDP",
            "source_host": "198.51.100.20",
            "source_port": 40000,
            "user_agent": "baresip 3.0",
        }
        values.update(changes)
        return StoredBinding(**values)  # type: ignore[arg-type]

    return make
