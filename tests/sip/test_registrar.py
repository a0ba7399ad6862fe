"""REGISTER processing of RFC 3261 §10.3 over a snapshot of bindings."""

from __future__ import annotations

import pytest

from ringfence.sip.message import Request, Response
from ringfence.sip.parser import parse_message
from ringfence.sip.registrar import (
    Binding,
    RegisterAccepted,
    RegisterRefused,
    RegistrarSettings,
    by_priority,
    process_register,
    register_response,
)
from ringfence.sip.uri import parse_uri

SETTINGS = RegistrarSettings(min_expires=60, max_expires=3600, default_expires=1800, max_contacts=3)


def register(
    contacts: list[str],
    *,
    expires: str | None = None,
    call_id: str = "reg-1",
    cseq: int = 1,
    to: str = "<sip:1001@pbx.example.com>",
) -> Request:
    lines = [
        "REGISTER sip:pbx.example.com SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr1",
        "From: <sip:1001@pbx.example.com>;tag=f1",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *[f"Contact: {c}" for c in contacts],
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    message = parse_message(("\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def accepted(outcome: RegisterAccepted | RegisterRefused) -> RegisterAccepted:
    assert isinstance(outcome, RegisterAccepted), outcome
    return outcome


def refused(outcome: RegisterAccepted | RegisterRefused) -> RegisterRefused:
    assert isinstance(outcome, RegisterRefused), outcome
    return outcome


def test_new_binding_takes_expiry_from_param_header_or_default() -> None:
    out = accepted(
        process_register(
            register(["<sip:a@198.51.100.7>;expires=120", "<sip:b@198.51.100.8>"], expires="600"),
            [],
            now=1000.0,
            settings=SETTINGS,
        )
    )
    assert [(str(b.contact.uri), b.expires_at) for b in out.bindings] == [
        ("sip:a@198.51.100.7", 1120.0),
        ("sip:b@198.51.100.8", 1600.0),
    ]
    assert len(out.added) == 2
    default = accepted(
        process_register(register(["<sip:a@198.51.100.7>"]), [], now=0.0, settings=SETTINGS)
    )
    assert default.bindings[0].expires_at == 1800.0


def test_expiry_is_capped_and_too_brief_is_refused_with_min_expires() -> None:
    capped = accepted(
        process_register(register(["<sip:a@h>"], expires="86400"), [], now=0.0, settings=SETTINGS)
    )
    assert capped.bindings[0].expires_at == 3600.0
    brief = refused(
        process_register(register(["<sip:a@h>"], expires="30"), [], now=0.0, settings=SETTINGS)
    )
    assert brief.status == 423
    assert brief.headers == (("Min-Expires", "60"),)


def test_refresh_updates_the_same_contact_and_unregister_removes_it() -> None:
    first = accepted(
        process_register(register(["<sip:a@h>"], cseq=1), [], now=0.0, settings=SETTINGS)
    )
    refresh = accepted(
        process_register(
            register(["<sip:a@h>"], cseq=2), first.bindings, now=100.0, settings=SETTINGS
        )
    )
    assert len(refresh.bindings) == 1
    assert refresh.refreshed[0].expires_at == 1900.0
    gone = accepted(
        process_register(
            register(["<sip:a@h>;expires=0"], cseq=3),
            refresh.bindings,
            now=200.0,
            settings=SETTINGS,
        )
    )
    assert gone.bindings == ()
    assert [str(b.contact.uri) for b in gone.removed] == ["sip:a@h"]


def test_contact_equality_follows_rfc_3261_19_1_4() -> None:
    first = accepted(
        process_register(
            register(["<sip:a@Host.Example.com>"], cseq=1), [], now=0.0, settings=SETTINGS
        )
    )
    again = accepted(
        process_register(
            register(["<sip:a@host.example.com;newparam=1>"], cseq=2),
            first.bindings,
            now=1.0,
            settings=SETTINGS,
        )
    )
    assert len(again.bindings) == 1


@pytest.mark.parametrize(("cseq", "ok"), [(5, False), (4, False), (6, True)])
def test_same_call_id_needs_a_higher_cseq(cseq: int, ok: bool) -> None:
    existing = accepted(
        process_register(register(["<sip:a@h>"], cseq=5), [], now=0.0, settings=SETTINGS)
    )
    outcome = process_register(
        register(["<sip:a@h>"], cseq=cseq), existing.bindings, now=1.0, settings=SETTINGS
    )
    assert isinstance(outcome, RegisterAccepted) is ok
    if not ok:
        assert refused(outcome).code == "register_out_of_order"


def test_a_new_call_id_may_replace_a_binding_whatever_its_cseq() -> None:
    existing = accepted(
        process_register(register(["<sip:a@h>"], cseq=50), [], now=0.0, settings=SETTINGS)
    )
    outcome = accepted(
        process_register(
            register(["<sip:a@h>"], cseq=1, call_id="reboot"),
            existing.bindings,
            now=1.0,
            settings=SETTINGS,
        )
    )
    assert outcome.bindings[0].call_id == "reboot"


def test_wildcard_removes_all_bindings_and_needs_expires_zero() -> None:
    existing = accepted(
        process_register(register(["<sip:a@h>", "<sip:b@h>"]), [], now=0.0, settings=SETTINGS)
    ).bindings
    assert (
        refused(process_register(register(["*"]), existing, now=1.0, settings=SETTINGS)).status
        == 400
    )
    assert (
        refused(
            process_register(register(["*"], expires="60"), existing, now=1.0, settings=SETTINGS)
        ).status
        == 400
    )
    cleared = accepted(
        process_register(
            register(["*"], expires="0", call_id="other"), existing, now=1.0, settings=SETTINGS
        )
    )
    assert cleared.bindings == ()
    assert len(cleared.removed) == 2


def test_query_without_contact_lists_live_bindings_and_drops_expired() -> None:
    existing = accepted(
        process_register(
            register(["<sip:a@h>;expires=60", "<sip:b@h>;expires=3600"]),
            [],
            now=0.0,
            settings=SETTINGS,
        )
    ).bindings
    out = accepted(process_register(register([]), existing, now=100.0, settings=SETTINGS))
    assert [str(b.contact.uri) for b in out.bindings] == ["sip:b@h"]
    assert [str(b.contact.uri) for b in out.removed] == ["sip:a@h"]


def test_contact_limit() -> None:
    outcome = process_register(
        register([f"<sip:p{i}@h>" for i in range(4)]), [], now=0.0, settings=SETTINGS
    )
    assert refused(outcome).code == "too_many_contacts"


def test_aor_must_be_a_sip_uri() -> None:
    # RFC 4475 §3.3.4: a registrar rejects an AOR of another scheme with 400.
    outcome = process_register(
        register(["<sip:a@h>"], to="isbn:2983792873"), [], now=0.0, settings=SETTINGS
    )
    assert refused(outcome).status == 400


def test_outbound_instance_replaces_the_old_binding_from_a_new_address() -> None:
    instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1'
    first = accepted(
        process_register(
            register([f"<sip:a@198.51.100.7:5060>;{instance}"]), [], now=0.0, settings=SETTINGS
        )
    )
    moved = accepted(
        process_register(
            register([f"<sip:a@203.0.113.4:40112>;{instance}"], call_id="new"),
            first.bindings,
            now=10.0,
            settings=SETTINGS,
        )
    )
    assert [str(b.contact.uri) for b in moved.bindings] == ["sip:a@203.0.113.4:40112"]


def test_response_lists_every_binding_with_its_remaining_expiry() -> None:
    request = register(["<sip:a@h>;q=0.5", "<sip:b@h>;expires=300"])
    outcome = accepted(process_register(request, [], now=0.0, settings=SETTINGS))
    response = register_response(request, outcome, now=100.0, to_tag="reg")
    reparsed = parse_message(response.to_bytes())
    assert isinstance(reparsed, Response)
    assert reparsed.status == 200
    assert reparsed.to.tag == "reg"
    assert [(str(c.uri), c.expires, c.q) for c in reparsed.contacts] == [
        ("sip:a@h", 1700, 0.5),
        ("sip:b@h", 200, None),
    ]
    refusal = register_response(
        request,
        RegisterRefused(status=423, code="x", headers=(("Min-Expires", "60"),)),
        now=0.0,
        to_tag="reg",
    )
    assert refusal.status == 423
    assert refusal.headers.get("Min-Expires") == "60"


def test_bindings_grouped_by_q_for_forking() -> None:
    def binding(uri: str, q: float | None) -> Binding:
        from ringfence.sip.headers import NameAddr

        return Binding(
            contact=NameAddr(uri=parse_uri(uri)), expires_at=1.0, call_id="c", cseq=1, q=q
        )

    groups = by_priority(
        [binding("sip:a@h", 0.5), binding("sip:b@h", None), binding("sip:c@h", 0.5)]
    )
    assert [[str(b.contact.uri) for b in g] for g in groups] == [
        ["sip:b@h"],
        ["sip:a@h", "sip:c@h"],
    ]
