"""The admin service over a real (SQLite) store: what it refuses, what it generates and what
it keeps. The store-level behaviour on both backends is in tests/store."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringfence.accounts import DEMO_EXTENSIONS, PASSWORD_ALPHABET, AccountsService
from ringfence.errors import Conflict, InvalidInput, NotFound
from ringfence.sip.digest import Algorithm, compute_ha1
from ringfence.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'ringfence.db'}") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def accounts(store: Store) -> AccountsService:
    return AccountsService(
        store, actor="cli", clock=lambda: 1_700_000_000.0, random=random.Random(3)
    )


def test_a_generated_password_is_strong_returned_once_and_matches_the_stored_ha1(
    store: Store, accounts: AccountsService
) -> None:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    issued = accounts.add_extension("acme", "1001")
    password = issued.password
    assert password is not None
    assert len(password) >= 16
    assert set(password) <= set(PASSWORD_ALPHABET)
    assert password not in repr(issued)
    stored = store.load_directory().extension(tenant.id, "1001")
    assert stored is not None
    assert stored.ha1_md5 == compute_ha1(
        username="1001", realm="acme.example", password=password, algorithm=Algorithm.MD5
    )
    assert stored.ha1_sha256 == compute_ha1(
        username="1001", realm="acme.example", password=password, algorithm=Algorithm.SHA_256
    )
    # It is never shown again.
    assert all(not hasattr(e, "password") for e in accounts.extensions("acme"))


def test_a_chosen_password_is_not_echoed(accounts: AccountsService) -> None:
    accounts.add_tenant("acme", domain="acme.example")
    assert accounts.add_extension("acme", "1001", password="correct horse").password is None
    assert accounts.set_password("acme", "1001", password="battery staple").password is None


def test_set_password_changes_the_ha1(store: Store, accounts: AccountsService) -> None:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001", password="first password")
    before = store.load_directory().extension(tenant.id, "1001")
    issued = accounts.set_password("acme", "1001")
    after = store.load_directory().extension(tenant.id, "1001")
    assert before is not None
    assert after is not None
    assert issued.password is not None
    assert after.ha1_md5 != before.ha1_md5
    assert after.ha1_sha256 == compute_ha1(
        username="1001", realm="acme.example", password=issued.password, algorithm=Algorithm.SHA_256
    )


def test_errors_say_what_to_fix(accounts: AccountsService) -> None:
    accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001")
    with pytest.raises(NotFound, match=r"no tenant named 'nope' \(see: ringfence tenant list\)"):
        accounts.add_extension("nope", "1001")
    with pytest.raises(NotFound, match="acme has no extension '1009'"):
        accounts.set_password("acme", "1009")
    with pytest.raises(Conflict, match="acme has an extension 1001 already"):
        accounts.add_extension("acme", "1001")
    with pytest.raises(Conflict, match="exists already; choose another name"):
        accounts.add_tenant("acme", domain="other.example")
    with pytest.raises(Conflict, match="belongs to tenant 'acme' already"):
        accounts.add_tenant("other", domain="ACME.example")
    with pytest.raises(InvalidInput, match=r"E\.164"):
        accounts.add_number("acme", "020 7946 0000", ext="1001")
    with pytest.raises(InvalidInput, match="HOST:PORT"):
        accounts.add_trunk("acme", "gw", host="gw.example:http")
    with pytest.raises(NotFound, match="acme has no number"):
        accounts.remove_number("acme", "+442079460000")
    with pytest.raises(InvalidInput, match="limit"):
        accounts.audit_log(limit=0)


def test_numbers_and_trunk_hosts_belong_to_one_tenant(accounts: AccountsService) -> None:
    accounts.add_tenant("alpha", domain="alpha.example")
    accounts.add_tenant("beta", domain="beta.example")
    accounts.add_extension("alpha", "1001")
    accounts.add_extension("beta", "1001")
    accounts.add_number("alpha", "+442079460000", ext="1001")
    with pytest.raises(Conflict, match="belongs to another tenant"):
        accounts.add_number("beta", "+442079460000", ext="1001")
    with pytest.raises(Conflict, match=r"belongs to alpha already \(extension 1001\)"):
        accounts.add_number("alpha", "+44 20 7946 0000", ext="1001")
    trunk = accounts.add_trunk("alpha", "carrier", host="203.0.113.5", transport="TLS")
    assert (trunk.port, trunk.transport) == (5061, "tls")
    with pytest.raises(Conflict, match="another tenant"):
        accounts.add_trunk("beta", "carrier", host="203.0.113.5:5080")
    with pytest.raises(Conflict, match="trunk named 'carrier' already"):
        accounts.add_trunk("alpha", "carrier", host="203.0.113.6")
    with pytest.raises(InvalidInput, match="both --username and --password"):
        accounts.add_trunk("alpha", "other", host="203.0.113.7", username="u")


def test_the_demo_is_made_once_and_kept(store: Store, accounts: AccountsService) -> None:
    first = accounts.ensure_demo(domain="127.0.0.1")
    assert first.created
    assert first.tenant.domain == "127.0.0.1"
    assert [c.extension.ext for c in first.credentials] == list(DEMO_EXTENSIONS)
    assert all(c.password and len(c.password) >= 16 for c in first.credentials)
    revision = store.revision()
    again = accounts.ensure_demo(domain="127.0.0.1")
    assert not again.created
    assert [c.password for c in again.credentials] == [None, None]
    assert [c.extension for c in again.credentials] == [c.extension for c in first.credentials]
    assert store.revision() == revision
    accounts.remove_extension("demo", "1002")
    mended = accounts.ensure_demo(domain="127.0.0.1")
    assert [c.password is not None for c in mended.credentials] == [False, True]


def test_the_demo_is_all_or_nothing(store: Store, accounts: AccountsService) -> None:
    accounts.add_tenant("taken", domain="127.0.0.1")
    with pytest.raises(Conflict, match=r"domain 127\.0\.0\.1 belongs to tenant 'taken'"):
        accounts.ensure_demo(domain="127.0.0.1")
    assert [t.name for t in accounts.tenants()] == ["taken"]
    assert store.revision() == 1
