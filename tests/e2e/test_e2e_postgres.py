"""The service on PostgreSQL instead of the embedded SQLite (``--db``/``RINGFENCE_DB``): a phone
registers, the service restarts, the binding is still there and a call reaches the phone."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.slow

CANDIDATES = (
    [os.environ["RINGFENCE_TEST_PG"]]
    if os.environ.get("RINGFENCE_TEST_PG")
    else ["postgresql://root@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"]
)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    errors = []
    for url in CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as connection:
                schema = f"rf_e2e_{uuid.uuid4().hex[:12]}"
                connection.execute(f"CREATE SCHEMA {schema}")
            break
        except psycopg.Error as error:
            errors.append(f"{url}: {error}")
    else:
        pytest.fail(f"PostgreSQL is not reachable: {errors}", pytrace=False)
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def test_service_on_postgresql_keeps_bindings_across_a_restart(
    postgres_schema: str, toolkit: Any, sipp: Any, world: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("RINGFENCE_DB", postgres_schema)  # the CLI and `serve` both read it
    data_dir = tmp_path / "data"
    bob = world.bob
    toolkit.run_cli(data_dir, "init")
    toolkit.run_cli(data_dir, "tenant", "add", bob.tenant, "--domain", bob.domain)
    toolkit.run_cli(data_dir, "ext", "add", bob.tenant, bob.ext, "--password", bob.password)
    assert not (data_dir / "ringfence.db").exists()  # nothing went to SQLite
    service = toolkit.service(data_dir, tmp_path)
    service.start()
    try:
        contact = f"sip:{bob.ext}@127.0.0.1:45099;transport=udp"
        sipp.run(
            "register.xml",
            transport="udp",
            remote=(service.host, service.sip_port),
            keys={"domain": bob.domain, "user": bob.ext, "contact": contact, "expires": "300"},
            auth=(bob.ext, bob.password, bob.domain),
        ).assert_ok()
        service.stop_cleanly()
        service.start()
        bindings = service.registrations(bob.tenant)
        assert [b["contact"] for b in bindings if b["ext"] == bob.ext] == [f"<{contact}>"]
    finally:
        if service.started:
            service.stop_cleanly()
