"""Webhook signatures: what a receiver accepts and what it refuses."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ringfence.notify import SIGNATURE_HEADER, sign, verify

SECRET = "whsec-test-1"
BODY = b'{"id":"incident-42","tenant":"acme"}'
T0 = 1_800_000_000


def test_the_header_is_named_and_shaped_as_documented() -> None:
    assert SIGNATURE_HEADER == "X-Ringfence-Signature"
    expected = hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T0, BODY) == f"t=1800000000,v1={expected}"


def test_a_signature_verifies_on_the_same_body() -> None:
    assert verify(SECRET, sign(SECRET, T0, BODY), BODY, now=T0 + 5.5)


def test_a_tampered_body_fails() -> None:
    header = sign(SECRET, T0, BODY)
    assert not verify(SECRET, header, BODY.replace(b"acme", b"acmf"), now=T0)
    assert not verify(SECRET, header, BODY + b" ", now=T0)


def test_a_wrong_secret_fails() -> None:
    assert not verify("whsec-test-2", sign(SECRET, T0, BODY), BODY, now=T0)


def test_the_timestamp_is_signed_too() -> None:
    header = sign(SECRET, T0, BODY).replace("t=1800000000", "t=1800000100")
    assert not verify(SECRET, header, BODY, now=T0 + 100)


@pytest.mark.parametrize(
    ("now", "accepted"),
    [
        (T0 + 300, True),
        (T0 - 300, True),
        (T0 + 300.5, False),  # stale: recorded and replayed later
        (T0 - 301, False),  # from the future
        (float("nan"), False),
    ],
)
def test_the_timestamp_must_be_within_tolerance(now: float, accepted: bool) -> None:
    assert verify(SECRET, sign(SECRET, T0, BODY), BODY, now=now) is accepted


def test_the_tolerance_can_be_narrowed() -> None:
    header = sign(SECRET, T0, BODY)
    assert verify(SECRET, header, BODY, now=T0 + 30, tolerance=30)
    assert not verify(SECRET, header, BODY, now=T0 + 31, tolerance=30)


def test_any_one_of_several_signatures_is_enough() -> None:
    old = sign("whsec-old", T0, BODY).split(",")[1]
    new = sign(SECRET, T0, BODY)
    assert verify(SECRET, f"{new},{old}", BODY, now=T0)
    assert verify("whsec-old", f"{new}, {old}", BODY, now=T0)
    assert not verify("whsec-other", f"{new},{old}", BODY, now=T0)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=1800000000",
        "v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=1800000000,v1=xyz",
        "t=1800000000,v1=" + "A" * 64,
        "t=1800000000,t=1800000000,v1=" + "0" * 64,
        "t=1800000000,v1=" + "é" * 64,
        "t=1800000000;v1=" + "0" * 64,
        "t=" + "9" * 400 + ",v1=" + "0" * 64,
        "t=١٨٠٠٠٠٠٠٠٠,v1=" + "0" * 64,  # Arabic-Indic digits are not a timestamp
    ],
)
def test_a_malformed_header_is_refused_without_raising(header: str) -> None:
    assert verify(SECRET, header, BODY, now=T0) is False


def test_a_header_with_one_valid_signature_among_malformed_parts_is_refused() -> None:
    assert not verify(SECRET, sign(SECRET, T0, BODY) + ",v1=nothex", BODY, now=T0)


def test_a_secret_that_cannot_be_encoded_fails_instead_of_raising() -> None:
    assert verify("\ud800", sign(SECRET, T0, BODY), BODY, now=T0) is False


def test_a_negative_timestamp_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="negative"):
        sign(SECRET, -1, BODY)
