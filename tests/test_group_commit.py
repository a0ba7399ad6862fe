"""Group commit of the call path's writes, on a real SQLite store: writes that queue up together
share one transaction, each is acknowledged only once committed, and a bad write fails alone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ringfence.accounts import AccountsService, Tenant
from ringfence.app import GroupCommitPersistence
from ringfence.errors import NotFound
from ringfence.store import CallRecord, Store, StoredBinding


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'ringfence.db'}") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def tenant(store: Store) -> Tenant:
    accounts = AccountsService(store, actor="test", clock=lambda: 1.0, random=random.Random(1))
    tenant = accounts.add_tenant("acme", domain="acme.example")
    for ext in ("1001", "1002", "1003"):
        accounts.add_extension("acme", ext, password="Correct-horse-9")
    return tenant


def binding(tenant: Tenant, ext: str, port: int) -> StoredBinding:
    return StoredBinding(
        tenant_id=tenant.id, ext=ext, contact=f"<sip:{ext}@192.0.2.1:{port}>",
        expires_at=1e10, call_id=f"c{port}", cseq=1, q=None, instance=None, reg_id=None,
        transport="UDP", source_host="192.0.2.1", source_port=port, user_agent=None,
    )  # fmt: skip


def record(tenant: Tenant, call_id: str) -> CallRecord:
    return CallRecord(
        id=None, tenant_id=tenant.id, call_id=call_id, caller="1001", callee="1002",
        direction="internal", started_at=1.0, answered_at=2.0, ended_at=5.0, duration=3.0,
        final_status=200, reason=None,
    )  # fmt: skip


def test_concurrent_writes_are_all_committed_in_few_transactions(
    store: Store, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    write_batch = store.write_batch

    def counting(writes: list[object]) -> None:
        groups.append(len(writes))
        write_batch(writes)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_batch", counting)

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            persistence = GroupCommitPersistence(store, executor)
            await asyncio.gather(
                *(persistence.add_call_record(record(tenant, f"call-{i}")) for i in range(50)),
                persistence.replace_bindings(tenant, "1001", (binding(tenant, "1001", 5060),)),
                persistence.replace_bindings(tenant, "1002", (binding(tenant, "1002", 5062),)),
            )

    asyncio.run(main())

    assert len(store.list_call_records(tenant.id, limit=100)) == 50
    assert {b.ext for b in store.list_bindings(tenant.id)} == {"1001", "1002"}
    assert sum(groups) == 52
    assert len(groups) < 10  # grouped: far fewer transactions than writes


def test_a_bad_write_fails_alone(store: Store, tenant: Tenant) -> None:
    async def main() -> list[BaseException | None]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            persistence = GroupCommitPersistence(store, executor)
            results = await asyncio.gather(
                persistence.add_call_record(record(tenant, "good-1")),
                persistence.replace_bindings(tenant, "9999", (binding(tenant, "9999", 5070),)),
                persistence.add_call_record(record(tenant, "good-2")),
                return_exceptions=True,
            )
            return list(results)

    good_1, bad, good_2 = asyncio.run(main())

    assert good_1 is None
    assert good_2 is None
    assert isinstance(bad, NotFound)
    assert {r.call_id for r in store.list_call_records(tenant.id)} == {"good-1", "good-2"}
