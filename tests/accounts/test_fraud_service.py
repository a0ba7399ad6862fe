"""The fraud guard's records over a real store, on SQLite and PostgreSQL: an incident opens
once and escalates, its hold reaches the directory the call path reads, its notices are queued
once per incident and channel, and an admin's release closes it and lifts the hold.

PostgreSQL is taken from ``RINGFENCE_TEST_PG`` as in test_policy_service.py.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from tests.accounts.test_policy_service import postgres_url, store  # noqa: F401

from ringfence.accounts import AccountsService, FraudService, Tenant, pin_realm
from ringfence.errors import Conflict, InvalidInput, NotFound
from ringfence.fraud import Response
from ringfence.sip.digest import Algorithm, compute_ha1
from ringfence.store import BindingsWrite, Notice, Store, StoredBinding

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC).timestamp()
NOTICE = Notice(subject="suspected toll fraud", body="why", payload=json.dumps({"score": 90}))


@pytest.fixture
def accounts(store: Store) -> AccountsService:  # noqa: F811
    return AccountsService(store, actor="cli", clock=lambda: NOW, random=random.Random(5))


@pytest.fixture
def fraud(store: Store) -> FraudService:  # noqa: F811
    return FraudService(store, actor="cli", clock=lambda: NOW + 600)


@pytest.fixture
def acme(accounts: AccountsService) -> Tenant:
    tenant = accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001")
    accounts.add_extension("acme", "1002")
    return tenant


def respond(store: Store, tenant: Tenant, level: Response, *, ext: str | None = "1001", at=NOW):  # noqa: F811
    return record(store, tenant, level, ext=ext, at=at)[:2]


def record(store: Store, tenant: Tenant, level: Response, *, ext: str | None = "1001", at=NOW):  # noqa: F811
    return store.record_response(
        tenant_id=tenant.id,
        ext=ext,
        level=level,
        score=int(level) * 30,
        summary=f"score {int(level) * 30}",
        action=f"{level.name.lower()} at {at}",
        at=at,
        notice=NOTICE,
        new_ha1s=lambda ext, realm: (
            compute_ha1(
                username=ext, realm=realm, password="s3cret-nobody-knows", algorithm=Algorithm.MD5
            ),
            compute_ha1(
                username=ext,
                realm=realm,
                password="s3cret-nobody-knows",
                algorithm=Algorithm.SHA_256,
            ),
        ),
    )


def test_an_incident_opens_once_escalates_and_puts_its_hold_in_the_directory(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    fraud.add_contact("acme", "sec@acme.example")
    fraud.set_webhook("acme", "https://hooks.acme.example/x", "0123456789abcdef0123")
    first, opened = respond(store, acme, Response.NOTIFY)
    again, reopened = respond(store, acme, Response.CONTAIN, at=NOW + 30)
    assert opened
    assert not reopened
    assert first == again
    (incident,) = fraud.incidents("acme")
    assert incident.level is Response.CONTAIN
    assert incident.ext == "1001"
    assert len(incident.actions) == 2
    directory = store.load_directory()
    assert directory.hold(acme.id, "1001") is Response.CONTAIN
    assert directory.hold(acme.id, "1002") is Response.NONE
    # One notice per channel, for the incident, not for each response.
    pending = store.pending_notifications()
    assert sorted(e.channel for e in pending) == ["email", "webhook"]
    email = next(e for e in pending if e.channel == "email")
    assert email.emails == ("sec@acme.example",)
    hook = next(e for e in pending if e.channel == "webhook")
    assert hook.url == "https://hooks.acme.example/x"
    store.finish_notification(hook.id, attempts=1, delivered_at=NOW, error=None, gave_up=False)
    assert [e.channel for e in store.pending_notifications()] == ["email"]


def test_a_tenant_hold_covers_every_extension_and_release_lifts_it(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    respond(store, acme, Response.CONTAIN, ext=None)
    respond(store, acme, Response.PIN, ext="1002")
    directory = store.load_directory()
    assert directory.hold(acme.id, "1001") is Response.CONTAIN
    revision = directory.revision
    released = fraud.release("acme")
    assert {i.ext for i in released} == {None, "1002"}
    after = store.load_directory()
    assert after.revision > revision  # a running service reloads and lets calls through
    assert after.hold(acme.id, "1001") is Response.NONE
    assert after.hold(acme.id, "1002") is Response.NONE
    assert fraud.incidents("acme", open_only=True) == []
    closed = fraud.incidents("acme")
    assert all(i.released_by == "cli" for i in closed)
    assert any(e.action == "fraud.release" for e in store.list_audit(acme.id))
    # A new response after the release opens a new incident.
    _, opened = respond(store, acme, Response.NOTIFY, at=NOW + 3600)
    assert opened


def test_releasing_one_extension_leaves_the_others_held(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    respond(store, acme, Response.CONTAIN, ext="1001")
    respond(store, acme, Response.CONTAIN, ext="1002")
    fraud.release("acme", "1001")
    directory = store.load_directory()
    assert directory.hold(acme.id, "1001") is Response.NONE
    assert directory.hold(acme.id, "1002") is Response.CONTAIN


def test_a_correct_pin_lifts_a_pin_hold_but_not_a_containment(
    store: Store,  # noqa: F811
    acme: Tenant,
) -> None:
    respond(store, acme, Response.PIN, ext="1001")
    respond(store, acme, Response.CONTAIN, ext="1002")
    store.lift_pin_hold(tenant_id=acme.id, ext="1001", action="pin given", at=NOW)
    store.lift_pin_hold(tenant_id=acme.id, ext="1002", action="pin given", at=NOW)
    directory = store.load_directory()
    assert directory.hold(acme.id, "1001") is Response.NONE
    assert directory.hold(acme.id, "1002") is Response.CONTAIN


def test_a_quiet_notified_incident_closes_but_a_held_one_waits(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    respond(store, acme, Response.NOTIFY, ext="1001")
    respond(store, acme, Response.CONTAIN, ext="1002")
    closed = [
        store.close_quiet_incident(tenant_id=acme.id, ext=ext, action="quiet", at=NOW + 86400)
        for ext in ("1001", "1002")
    ]
    assert closed == [True, False]
    by_ext = {i.ext: i for i in fraud.incidents("acme")}
    assert by_ext["1001"].status.value == "released"
    assert by_ext["1001"].released_by == "ringfence (quiet for a day)"
    assert by_ext["1001"].actions[-1] == "quiet"
    assert by_ext["1002"].status.value == "open"
    assert store.load_directory().hold(acme.id, "1002") is Response.CONTAIN
    # A later alarm opens a new incident, and is notified again.
    _, opened = respond(store, acme, Response.NOTIFY, ext="1001", at=NOW + 90000)
    assert opened


def test_no_notice_is_queued_without_a_contact_or_webhook(
    store: Store,  # noqa: F811
    acme: Tenant,
) -> None:
    respond(store, acme, Response.NOTIFY)
    assert store.pending_notifications() == []


def test_contacts_webhook_and_pin_are_validated_and_audited_without_secrets(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    with pytest.raises(InvalidInput):
        fraud.add_contact("acme", "not-an-address")
    fraud.add_contact("acme", "Sec@Acme.example")
    with pytest.raises(Conflict):
        fraud.add_contact("acme", "sec@acme.example")
    with pytest.raises(NotFound):
        fraud.remove_contact("acme", "nobody@acme.example")
    with pytest.raises(InvalidInput):
        fraud.set_webhook("acme", "ftp://x", "0123456789abcdef0123")
    with pytest.raises(InvalidInput):
        fraud.set_webhook("acme", "https://hooks.acme.example/x", "short")
    fraud.set_webhook("acme", "https://hooks.acme.example/x", "0123456789abcdefSECRET")
    assert fraud.webhook("acme") == "https://hooks.acme.example/x"
    with pytest.raises(InvalidInput):
        fraud.set_pin("acme", "1001", "12")
    with pytest.raises(NotFound):
        fraud.set_pin("acme", "9999", "4821")
    fraud.set_pin("acme", "1001", "4821")
    extension = store.load_directory().extension(acme.id, "1001")
    assert extension is not None
    assert extension.pin_ha1_md5 == compute_ha1(
        username="1001", realm=pin_realm("acme.example"), password="4821", algorithm=Algorithm.MD5
    )
    audit = " ".join(
        f"{e.action} {e.target} {e.detail} {e.old_value} {e.new_value}"
        for e in store.list_audit(acme.id)
    )
    assert "SECRET" not in audit
    assert "4821" not in audit
    for action in ("pin.set", "webhook.set", "contact.add"):
        assert action in audit


def _bind(store: Store, tenant: Tenant, ext: str) -> None:  # noqa: F811
    store.write_batch(
        [
            BindingsWrite(
                tenant_id=tenant.id,
                ext=ext,
                bindings=(
                    StoredBinding(
                        tenant_id=tenant.id,
                        ext=ext,
                        contact=f"<sip:{ext}@192.0.2.66:5060>",
                        expires_at=NOW + 3600,
                        call_id=f"reg-{ext}",
                        cseq=1,
                        transport="udp",
                        source_host="192.0.2.66",
                        source_port=5060,
                    ),
                ),
            )
        ]
    )


@pytest.mark.parametrize("asked", [True, False])
def test_a_containment_resets_the_sip_password_only_where_the_tenant_asked(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
    asked: bool,
) -> None:
    assert not fraud.resets_password_on_contain("acme")  # off by default
    if asked:
        fraud.set_reset_password_on_contain("acme", True)
    before = store.load_directory().extension(acme.id, "1001")
    _bind(store, acme, "1001")
    _bind(store, acme, "1002")
    assert record(store, acme, Response.NOTIFY).password_reset is False
    assert record(store, acme, Response.PIN, at=NOW + 10).password_reset is False
    contained = record(store, acme, Response.CONTAIN, at=NOW + 20)
    assert contained.password_reset is asked
    after = store.load_directory().extension(acme.id, "1001")
    assert before is not None
    assert after is not None
    assert (after.ha1_sha256 != before.ha1_sha256) is asked
    still = {(b.ext, b.contact) for b in store.load_bindings()}
    assert ("1002", "<sip:1002@192.0.2.66:5060>") in still  # the other extension keeps its phone
    assert (("1001", "<sip:1001@192.0.2.66:5060>") in still) is not asked
    # A second containment response of the same incident does not reset again.
    assert record(store, acme, Response.CONTAIN, at=NOW + 30).password_reset is False
    (incident,) = fraud.incidents("acme")
    assert any("SIP password reset" in a for a in incident.actions) is asked
    entries = list(
        AccountsService(store, actor="cli", clock=lambda: NOW, random=random.Random(1)).audit_log(
            "acme"
        )
    )
    resets = [e for e in entries if e.action == "extension.password" and e.actor == "ringfence"]
    assert len(resets) == int(asked)
    assert all("nobody" not in (e.detail + (e.new_value or "")) for e in entries)


def test_a_tenant_containment_resets_no_password(
    store: Store,  # noqa: F811
    fraud: FraudService,
    acme: Tenant,
) -> None:
    fraud.set_reset_password_on_contain("acme", True)
    assert record(store, acme, Response.CONTAIN, ext=None).password_reset is False


def test_the_reset_setting_is_audited(fraud: FraudService, acme: Tenant, store: Store) -> None:  # noqa: F811
    fraud.set_reset_password_on_contain("acme", True)
    fraud.set_reset_password_on_contain("acme", False)
    entries = AccountsService(
        store, actor="cli", clock=lambda: NOW, random=random.Random(1)
    ).audit_log("acme")
    changes = [(e.old_value, e.new_value) for e in entries if e.action == "fraud.settings"]
    assert sorted(changes) == [("false", "true"), ("true", "false")]
    with pytest.raises(NotFound):
        fraud.set_reset_password_on_contain("nobody", True)
