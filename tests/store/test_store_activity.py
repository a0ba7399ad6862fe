"""Registrations and call records in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ringfence.accounts import Tenant, TenantId
from ringfence.errors import InvalidInput, NotFound
from ringfence.store import BindingsWrite, CallRecord, Store, StoredBinding

BindingFactory = Callable[..., StoredBinding]


def _tenant(store: Store, name: str, *exts: str) -> Tenant:
    with store.unit_of_work() as uow:
        tenant = uow.add_tenant(
            name=name, domain=f"{name}.example", encryption_required=False, created_at=1.0
        )
        for ext in exts:
            uow.add_extension(
                tenant.id, ext=ext, display_name=None, ha1_md5="m", ha1_sha256="s", created_at=1.0
            )
    return tenant


def _record(tenant_id: TenantId, call_id: str, ended_at: float, **changes: object) -> CallRecord:
    values: dict[str, object] = {
        "id": None,
        "tenant_id": tenant_id,
        "call_id": call_id,
        "caller": "1001",
        "callee": "1002",
        "direction": "internal",
        "started_at": ended_at - 30,
        "answered_at": ended_at - 25,
        "ended_at": ended_at,
        "duration": 25.0,
        "final_status": 200,
        "reason": None,
    }
    values.update(changes)
    return CallRecord(**values)  # type: ignore[arg-type]


# -- bindings -----------------------------------------------------------------------------


def test_replace_bindings_replaces_the_whole_set_of_one_aor(
    store: Store, make_binding: BindingFactory
) -> None:
    acme = _tenant(store, "acme", "1001", "1002")
    first = make_binding(acme.id, "1001", contact="<sip:1001@192.0.2.10>", q=0.5)
    other = make_binding(acme.id, "1002")
    store.replace_bindings(acme.id, "1001", [first])
    store.replace_bindings(acme.id, "1002", [other])
    second = make_binding(
        acme.id,
        "1001",
        contact='<sip:1001@192.0.2.11;transport=tcp>;+sip.instance="<urn:uuid:1>";reg-id=1',
        instance="<urn:uuid:1>",
        reg_id="1",
        cseq=7,
        transport="TCP",
        user_agent=None,
    )
    third = make_binding(acme.id, "1001", contact="<sip:1001@192.0.2.12>")
    store.replace_bindings(acme.id, "1001", [second, third])
    assert store.list_bindings(acme.id) == [second, third, other]
    store.replace_bindings(acme.id, "1001", [])
    assert store.list_bindings(acme.id) == [other]


def test_a_group_commit_keeps_the_last_replacement_of_each_aor_and_every_record(
    store: Store, make_binding: BindingFactory
) -> None:
    acme = _tenant(store, "acme", "1001", "1002")
    old = make_binding(acme.id, "1001", contact="<sip:1001@192.0.2.10>")
    new = make_binding(acme.id, "1001", contact="<sip:1001@192.0.2.11>", cseq=2)
    other = make_binding(acme.id, "1002")
    store.write_batch(
        [
            BindingsWrite(tenant_id=acme.id, ext="1001", bindings=(old,)),
            _record(acme.id, "c1", 100.0),
            BindingsWrite(tenant_id=acme.id, ext="1002", bindings=(other,)),
            BindingsWrite(tenant_id=acme.id, ext="1001", bindings=(new,)),
            _record(acme.id, "c2", 200.0),
        ]
    )
    assert store.list_bindings(acme.id) == [new, other]
    assert [r.call_id for r in store.list_call_records(acme.id)] == ["c2", "c1"]
    # An emptied set in a later group unregisters the AOR.
    store.write_batch([BindingsWrite(tenant_id=acme.id, ext="1001", bindings=())])
    assert store.list_bindings(acme.id) == [other]


def test_bindings_round_trip_every_field(store: Store, make_binding: BindingFactory) -> None:
    acme = _tenant(store, "acme", "1001")
    binding = make_binding(
        acme.id,
        "1001",
        contact='"Desk" <sip:1001@[2001:db8::10]:5062;transport=tls;ob>;expires=600',
        expires_at=1_700_000_600.25,
        call_id="a84b4c76e66710@pc33.example",
        cseq=2_147_483_647,
        q=0.7,
        instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>",
        reg_id="2",
        transport="TLS",
        source_host="2001:db8::10",
        source_port=65535,
        user_agent="Linphone/5.2 (belle-sip/5.2)",
    )
    store.replace_bindings(acme.id, "1001", [binding])
    assert store.load_bindings() == [binding]


def test_bindings_are_listed_per_tenant_and_loaded_for_all(
    store: Store, make_binding: BindingFactory
) -> None:
    a = _tenant(store, "alpha", "1001")
    b = _tenant(store, "beta", "1001")
    in_a, in_b = make_binding(a.id, "1001"), make_binding(b.id, "1001", source_port=1)
    store.replace_bindings(a.id, "1001", [in_a])
    store.replace_bindings(b.id, "1001", [in_b])
    assert store.list_bindings(a.id) == [in_a]
    assert store.list_bindings(b.id) == [in_b]
    assert store.load_bindings() == [in_a, in_b]
    store.replace_bindings(b.id, "1001", [])
    assert store.list_bindings(a.id) == [in_a]


def test_replace_bindings_refuses_another_aor_and_a_missing_extension(
    store: Store, make_binding: BindingFactory
) -> None:
    a = _tenant(store, "alpha", "1001")
    b = _tenant(store, "beta", "2001")
    with pytest.raises(ValueError, match="binding of"):
        store.replace_bindings(a.id, "1001", [make_binding(b.id, "1001")])
    with pytest.raises(NotFound, match="no extension"):
        store.replace_bindings(b.id, "1001", [make_binding(b.id, "1001")])
    assert store.load_bindings() == []


def test_expired_bindings_are_deleted_on_time(store: Store, make_binding: BindingFactory) -> None:
    acme = _tenant(store, "acme", "1001", "1002")
    soon = make_binding(acme.id, "1001", expires_at=100.0)
    later = make_binding(acme.id, "1001", contact="<sip:1001@192.0.2.99>", expires_at=200.0)
    store.replace_bindings(acme.id, "1001", [soon, later])
    store.replace_bindings(acme.id, "1002", [make_binding(acme.id, "1002", expires_at=50.0)])
    assert store.delete_expired_bindings(99.9) == 1
    assert store.delete_expired_bindings(100.0) == 1
    assert store.list_bindings(acme.id) == [later]
    assert store.delete_expired_bindings(100.0) == 0


def test_concurrent_writers_from_threads(store: Store, make_binding: BindingFactory) -> None:
    """The service writes from a worker thread while the admin side writes too."""
    acme = _tenant(store, "acme", *(str(1000 + i) for i in range(8)))
    errors: list[BaseException] = []

    def register(ext: str) -> None:
        try:
            for cseq in range(5):
                store.replace_bindings(acme.id, ext, [make_binding(acme.id, ext, cseq=cseq)])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=register, args=(str(1000 + i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(b.cseq for b in store.list_bindings(acme.id)) == [4] * 8


# -- call records ---------------------------------------------------------------------------


def test_a_call_record_is_committed_and_listed_newest_first(store: Store, db_url: str) -> None:
    acme = _tenant(store, "acme")
    first = store.add_call_record(_record(acme.id, "c1", ended_at=100.0))
    refused = store.add_call_record(
        _record(
            acme.id,
            "c2",
            ended_at=300.0,
            direction="outbound",
            callee="+442079460000",
            answered_at=None,
            duration=0.0,
            final_status=403,
            reason="intl_disabled",
        )
    )
    middle = store.add_call_record(_record(acme.id, "c3", ended_at=200.0, direction="inbound"))
    assert first.id is not None
    assert refused.id is not None
    assert middle.id is not None
    # A new connection (another process, after a crash) sees them: they were committed.
    with Store.open(db_url) as other:
        assert [r.call_id for r in other.list_call_records(acme.id)] == ["c2", "c3", "c1"]
    listed = store.list_call_records(acme.id, limit=2)
    assert listed == [refused, middle]
    assert listed[0].reason == "intl_disabled"
    assert listed[0].answered_at is None


def test_call_records_stay_with_their_tenant(store: Store) -> None:
    a, b = _tenant(store, "alpha"), _tenant(store, "beta")
    store.add_call_record(_record(a.id, "a1", ended_at=10.0))
    store.add_call_record(_record(b.id, "b1", ended_at=20.0))
    assert [r.call_id for r in store.list_call_records(a.id)] == ["a1"]
    assert [r.call_id for r in store.list_call_records(b.id)] == ["b1"]


def test_call_record_values_are_checked(store: Store) -> None:
    acme = _tenant(store, "acme")
    with pytest.raises(ValueError, match="direction"):
        _record(acme.id, "x", ended_at=1.0, direction="sideways")
    with pytest.raises(NotFound):
        store.add_call_record(_record(TenantId(acme.id + 100), "x", ended_at=1.0))
    with pytest.raises(InvalidInput):
        store.list_call_records(acme.id, limit=0)
    assert store.list_call_records(acme.id) == []
