"""What admin input must look like, and generated passwords."""

from __future__ import annotations

import random
import string

import pytest

from ringfence.accounts import (
    PASSWORD_ALPHABET,
    generate_password,
    normalise_domain,
    normalise_e164,
    normalise_host,
    parse_host_port,
)
from ringfence.accounts.rules import (
    check_display_name,
    check_ext,
    check_name,
    check_password,
    check_transport,
    check_trunk_credentials,
)
from ringfence.errors import InvalidInput


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+442079460000", "+442079460000"),
        ("+44 20 7946 0000", "+442079460000"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+12345678", "+12345678"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_e164_numbers(given: str, stored: str) -> None:
    assert normalise_e164(given) == stored


@pytest.mark.parametrize(
    "bad", ["442079460000", "+0442079460000", "+1234567", "+1234567890123456", "+44a2079460000", ""]
)
def test_bad_e164_numbers_say_what_the_form_is(bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"E\.164.*for example \+442079460000"):
        normalise_e164(bad)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("PBX.Example.COM", "pbx.example.com"),
        ("pbx.example.com.", "pbx.example.com"),
        ("localhost", "localhost"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8:0::1", "[2001:db8::1]"),
        ("[2001:db8::1]", "[2001:db8::1]"),
    ],
)
def test_domains_are_stored_in_one_form(given: str, stored: str) -> None:
    assert normalise_domain(given) == stored


@pytest.mark.parametrize(
    "bad", ["", "-pbx.example", "pbx_example.com", "999.1.1.1", "a..b", "x" * 64 + ".com", "[::g]"]
)
def test_bad_domains(bad: str) -> None:
    with pytest.raises(InvalidInput, match="not a host name or IP address"):
        normalise_domain(bad)
    assert normalise_host(bad) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("203.0.113.5:5070", ("203.0.113.5", 5070)),
        ("203.0.113.5", ("203.0.113.5", 5060)),
        ("GW.Carrier.example:5080", ("gw.carrier.example", 5080)),
        ("[2001:db8::5]:5061", ("[2001:db8::5]", 5061)),
        ("2001:db8::5", ("[2001:db8::5]", 5060)),
        ("[2001:db8::5]", ("[2001:db8::5]", 5060)),
    ],
)
def test_host_port(given: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(given, default_port=5060) == expected


@pytest.mark.parametrize(
    "bad", ["gw:99999", "gw:0", "gw:", "gw:abc", ":5060", "bad host:5060", "[2001:db8::5]x", ""]
)
def test_bad_host_port(bad: str) -> None:
    with pytest.raises(InvalidInput, match="is not HOST:PORT"):
        parse_host_port(bad, default_port=5060)


def test_names_extensions_and_display_names() -> None:
    assert check_name("acme-2_b") == "acme-2_b"
    for bad in ("Acme", "-acme", "", "a" * 64, "ac me"):
        with pytest.raises(InvalidInput, match="lower-case"):
            check_name(bad)
    assert check_ext("1001") == "1001"
    assert check_ext("reception.desk") == "reception.desk"
    for bad in ("+1001", "", "10 01", "x" * 33, "1001@x", ".1001"):
        with pytest.raises(InvalidInput, match="extension"):
            check_ext(bad)
    assert check_display_name("  Front Desk ") == "Front Desk"
    assert check_display_name("   ") is None
    # It goes between quotes in a From header: no header injection.
    for bad in ('Evil" <sip:x@y>', "a\r\nVia: x", "back\\slash", "x" * 65):
        with pytest.raises(InvalidInput, match="display name"):
            check_display_name(bad)


def test_operator_chosen_passwords_must_not_be_weak() -> None:
    assert check_password("correct horse", ext="1001") == "correct horse"
    for bad, why in (
        ("short", "8 to 128"),
        ("x" * 129, "8 to 128"),
        ("pass\nword", "control"),
        ("my1001pass", "extension"),
    ):
        with pytest.raises(InvalidInput, match=why):
            check_password(bad, ext="1001")


def test_trunk_transport_and_credentials() -> None:
    assert check_transport("TLS") == "tls"
    with pytest.raises(InvalidInput, match="udp, tcp, tls"):
        check_transport("sctp")
    assert check_trunk_credentials(None, None) == (None, None)
    assert check_trunk_credentials("acct", "pw") == ("acct", "pw")
    with pytest.raises(InvalidInput, match="both"):
        check_trunk_credentials("acct", None)
    with pytest.raises(InvalidInput, match="username"):
        check_trunk_credentials("a b", "pw")


def test_generated_passwords_are_long_random_and_from_the_alphabet() -> None:
    passwords = {generate_password(random.Random(seed)) for seed in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        assert len(password) >= 16
        assert set(password) <= set(PASSWORD_ALPHABET)
    assert not set("0O1lI") & set(PASSWORD_ALPHABET)
    assert set(PASSWORD_ALPHABET) <= set(string.ascii_letters + string.digits)
    # The random source is injected, so tests are deterministic.
    assert generate_password(random.Random(1)) == generate_password(random.Random(1))
    with pytest.raises(ValueError, match="16"):
        generate_password(random.Random(1), length=15)
