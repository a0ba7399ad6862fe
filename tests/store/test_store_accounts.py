"""The accounts side of the store, on SQLite and PostgreSQL: the admin service over it, the
directory snapshot, revision bumps, audit entries and all-or-nothing transactions."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from ringfence.accounts import AccountsService, TenantId
from ringfence.errors import Conflict, NotFound, StoreError
from ringfence.sip.digest import Algorithm, compute_ha1
from ringfence.store import Store, StoredBinding

BindingFactory = Callable[..., StoredBinding]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def accounts(store: Store) -> AccountsService:
    return AccountsService(store, actor="cli", clock=Clock(), random=random.Random(7))


def test_directory_snapshot_holds_what_the_admin_added(
    store: Store, accounts: AccountsService
) -> None:
    acme = accounts.add_tenant("acme", domain="PBX.Acme.Example")
    issued = accounts.add_extension("acme", "1001", display_name="Reception")
    accounts.add_trunk("acme", "carrier", host="203.0.113.5:5070", username="u", password="pw")
    accounts.add_number("acme", "+442079460000", ext="1001")

    directory = store.load_directory()
    assert directory.revision == store.revision() == 4
    assert directory.tenant_by_domain("pbx.ACME.example") == acme
    assert acme.domain == "pbx.acme.example"
    extension = directory.extension(acme.id, "1001")
    assert extension == issued.extension
    assert extension is not None
    assert extension.display_name == "Reception"
    (trunk,) = directory.trunks(acme.id)
    assert (trunk.host, trunk.port, trunk.transport, trunk.username, trunk.password) == (
        "203.0.113.5",
        5070,
        "udp",
        "u",
        "pw",
    )
    assert directory.trunk_for_source("203.0.113.5") == trunk
    number = directory.number("+442079460000")
    assert number is not None
    assert (number.tenant_id, number.ext) == (acme.id, "1001")


def test_ha1_values_are_those_of_compute_ha1_with_the_domain_as_realm(
    store: Store, accounts: AccountsService
) -> None:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    issued = accounts.add_extension("acme", "1001", password="correct horse")
    stored = store.load_directory().extension(tenant.id, "1001")
    assert stored is not None
    assert issued.password is None
    for algorithm, value in (
        (Algorithm.MD5, stored.ha1_md5),
        (Algorithm.SHA_256, stored.ha1_sha256),
    ):
        assert value == compute_ha1(
            username="1001", realm="acme.example", password="correct horse", algorithm=algorithm
        )


def test_tenant_isolation_in_the_store(store: Store, accounts: AccountsService) -> None:
    a = accounts.add_tenant("alpha", domain="alpha.example")
    b = accounts.add_tenant("beta", domain="beta.example")
    accounts.add_extension("alpha", "1001")
    accounts.add_extension("beta", "2001")
    directory = store.load_directory()
    assert directory.extension(b.id, "1001") is None
    assert directory.extension(a.id, "2001") is None
    assert [e.ext for e in accounts.extensions("beta")] == ["2001"]
    with store.unit_of_work() as uow:
        assert uow.extension(b.id, "1001") is None
        assert [e.ext for e in uow.extensions(a.id)] == ["1001"]


def test_every_admin_change_bumps_the_revision_and_reads_do_not(
    store: Store, accounts: AccountsService
) -> None:
    assert store.revision() == 0
    accounts.add_tenant("acme", domain="acme.example")
    assert store.revision() == 1
    accounts.tenants()
    accounts.extensions("acme")
    accounts.audit_log()
    assert store.revision() == 1
    accounts.add_extension("acme", "1001")
    accounts.set_password("acme", "1001")
    accounts.add_extension("acme", "1002")
    accounts.remove_extension("acme", "1002")
    assert store.revision() == 5


def test_audit_entries_name_the_action_and_hold_no_secret(
    store: Store, accounts: AccountsService
) -> None:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    generated = accounts.add_extension("acme", "1001").password
    accounts.add_extension("acme", "1002", password="chosen-secret-9")
    renewed = accounts.set_password("acme", "1002").password
    accounts.add_trunk("acme", "gw", host="198.51.100.9", username="acct", password="trunk-pw-77")
    accounts.add_number("acme", "+15551234567", ext="1001")
    entries = store.list_audit(None)
    assert [(e.action, e.target) for e in reversed(entries)] == [
        ("tenant.add", "acme"),
        ("extension.add", "1001"),
        ("extension.add", "1002"),
        ("extension.password", "1002"),
        ("trunk.add", "gw"),
        ("number.add", "+15551234567"),
    ]
    assert all(e.actor == "cli" and e.tenant_id == tenant.id for e in entries)
    assert all(e.at > 1_700_000_000 for e in entries)
    extension = store.load_directory().extension(tenant.id, "1002")
    assert extension is not None
    assert generated
    assert renewed
    secrets = [generated, renewed, "chosen-secret-9", "trunk-pw-77", extension.ha1_md5]
    text = " ".join(f"{e.actor} {e.action} {e.target} {e.detail}" for e in entries)
    for secret in secrets:
        assert secret not in text
    assert store.list_audit(TenantId(tenant.id + 1)) == []


def test_a_failed_action_writes_nothing(store: Store, accounts: AccountsService) -> None:
    accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001")
    before = (store.revision(), len(store.list_audit(None)))
    with pytest.raises(NotFound):
        accounts.add_number("acme", "+442079460000", ext="9999")
    with pytest.raises(Conflict):
        accounts.add_tenant("acme", domain="other.example")
    with pytest.raises(Conflict):
        accounts.add_tenant("other", domain="ACME.example")
    assert (store.revision(), len(store.list_audit(None))) == before


def test_an_error_inside_a_unit_of_work_rolls_everything_back(store: Store) -> None:
    class Boom(Exception):
        pass

    def half_done() -> None:
        with store.unit_of_work() as uow:
            tenant = uow.add_tenant(
                name="acme", domain="acme.example", encryption_required=False, created_at=1.0
            )
            uow.add_extension(
                tenant.id, ext="1001", display_name=None, ha1_md5="a", ha1_sha256="b", created_at=1
            )
            raise Boom

    with pytest.raises(Boom):
        half_done()
    assert store.load_directory().tenants() == ()
    assert store.revision() == 0


def test_a_unique_clash_the_service_did_not_see_comes_out_as_conflict(store: Store) -> None:
    """The fallback for a race between two admins: the database's constraint, translated."""
    with store.unit_of_work() as uow:
        uow.add_tenant(name="acme", domain="acme.example", encryption_required=False, created_at=1)
    with pytest.raises(Conflict, match="name exists already"), store.unit_of_work() as uow:
        uow.add_tenant(name="acme", domain="x.example", encryption_required=False, created_at=1)
    with pytest.raises(Conflict, match="domain exists already"), store.unit_of_work() as uow:
        uow.add_tenant(name="x", domain="acme.example", encryption_required=False, created_at=1)
    assert store.revision() == 1


def test_a_number_must_ring_an_extension_of_its_own_tenant(store: Store) -> None:
    with store.unit_of_work() as uow:
        a = uow.add_tenant(name="a", domain="a.example", encryption_required=False, created_at=1)
        b = uow.add_tenant(name="b", domain="b.example", encryption_required=False, created_at=1)
        uow.add_extension(
            a.id, ext="1001", display_name=None, ha1_md5="x", ha1_sha256="y", created_at=1
        )
    with pytest.raises(StoreError), store.unit_of_work() as uow:
        uow.add_number(b.id, e164="+442079460000", ext="1001", created_at=1)
    assert store.load_directory().number("+442079460000") is None


def test_remove_extension_takes_its_bindings_and_refuses_while_a_number_rings_it(
    store: Store, accounts: AccountsService, make_binding: BindingFactory
) -> None:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001")
    accounts.add_number("acme", "+442079460000", ext="1001")
    store.replace_bindings(tenant.id, "1001", [make_binding(tenant.id, "1001")])
    with pytest.raises(Conflict, match=r"number remove acme \+442079460000"):
        accounts.remove_extension("acme", "1001")
    accounts.remove_number("acme", "+442079460000")
    accounts.remove_extension("acme", "1001")
    assert store.load_directory().extension(tenant.id, "1001") is None
    assert store.list_bindings(tenant.id) == []
