"""SIP digest authentication: RFC vectors, the verifier's decisions, replay, and the grammar."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.errors import ParseError
from ringfence.sip.digest import (
    MAX_VALUE_LENGTH,
    Algorithm,
    Challenge,
    Credentials,
    DigestOutcome,
    DigestVerifier,
    build_credentials,
    compute_ha1,
    parse_challenge,
    parse_credentials,
)
from ringfence.sip.nonce import NonceFactory, NonceStatus, ReplayTracker, ReplayVerdict

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "pbx.example.com"
USER = "alice"
PASSWORD = "correct horse"
URI = "sip:pbx.example.com"
AVAILABLE = [a for a in Algorithm if a.is_available]


class CountingBytes:
    """Deterministic stand-in for os.urandom: 1, 2, 3... spread over the asked length."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return self.calls.to_bytes(size, "big")


def make_verifier(
    *, lifetime: float = 300.0, max_entries: int = 10_000, max_uses: int = 1_000
) -> DigestVerifier:
    nonces = NonceFactory(SECRET, lifetime=lifetime, random_bytes=CountingBytes())
    replay = ReplayTracker(lifetime=lifetime, max_entries=max_entries, max_uses_per_nonce=max_uses)
    return DigestVerifier(nonces=nonces, replay=replay)


def answer(
    challenge: Challenge,
    *,
    nc: int = 1,
    password: str = PASSWORD,
    method: str = "REGISTER",
    cnonce: str = "0a4f113b",
) -> Credentials:
    ha1 = compute_ha1(
        username=USER, realm=challenge.realm, password=password, algorithm=challenge.algorithm
    )
    return build_credentials(
        challenge=challenge, method=method, uri=URI, username=USER, ha1=ha1, cnonce=cnonce, nc=nc
    )


def verify(
    verifier: DigestVerifier, credentials: Credentials, *, now: float, realm: str = REALM
) -> DigestOutcome:
    algorithm = credentials.algorithm or Algorithm.MD5
    ha1 = compute_ha1(username=USER, realm=realm, password=PASSWORD, algorithm=algorithm)
    return verifier.verify(credentials, method="REGISTER", realm=realm, ha1=ha1, now=now)


def with_param(credentials: Credentials, name: str, value: str | None) -> Credentials:
    """Credentials with one parameter replaced, added or (value None) removed."""
    kept = tuple((n, v) for n, v in credentials.params if n != name)
    added = () if value is None else ((name, value),)
    return dataclasses.replace(credentials, params=kept + added)


# --- published vectors -----------------------------------------------------------------------

RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg},\r\n'
    '    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n'
    '    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_AUTHORIZATION = (
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",'
    ' algorithm={alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,'
    ' cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,'
    ' response="{response}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        pytest.param(Algorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec", id="MD5"),
        pytest.param(
            Algorithm.SHA_256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            id="SHA-256",
        ),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: Algorithm, response: str) -> None:
    challenge = parse_challenge(RFC7616_CHALLENGE.format(alg=algorithm.value))
    assert challenge.realm == "http-auth@example.org"
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.algorithm is algorithm
    ha1 = compute_ha1(
        username="Mufasa",
        realm="http-auth@example.org",
        password="Circle of Life",
        algorithm=algorithm,
    )
    built = build_credentials(
        challenge=challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        ha1=ha1,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc=1,
    )
    assert built.response == response
    assert built.opaque == challenge.opaque
    published = parse_credentials(
        RFC7616_AUTHORIZATION.format(alg=algorithm.value, response=response)
    )
    for field in ("username", "realm", "uri", "nonce", "nc", "cnonce", "qop", "opaque"):
        assert getattr(published, field) == getattr(built, field), field
    assert published.algorithm is algorithm


def test_rfc2617_section_3_5_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int",'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    ha1 = compute_ha1(
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        algorithm=challenge.algorithm,
    )
    built = build_credentials(
        challenge=challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        ha1=ha1,
        cnonce="0a4f113b",
        nc=1,
    )
    assert challenge.algorithm is Algorithm.MD5  # absent means MD5
    assert built.response == "6629fae49393a05397450978507c4ef1"


# --- the verifier's decisions ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", AVAILABLE, ids=lambda a: a.value)
def test_sip_round_trip_is_accepted(algorithm: Algorithm) -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm=REALM, now=1000.0, algorithm=algorithm)
    on_the_wire = parse_challenge(challenge.to_header_value())
    assert on_the_wire == challenge
    credentials = parse_credentials(answer(on_the_wire).to_header_value())
    assert credentials.is_digest
    assert verify(verifier, credentials, now=1001.0) is DigestOutcome.ACCEPTED


def test_replayed_pair_is_refused_and_higher_nc_accepted() -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm=REALM, now=0.0)
    first = answer(challenge, nc=1)
    assert verify(verifier, first, now=1.0) is DigestOutcome.ACCEPTED
    assert verify(verifier, first, now=2.0) is DigestOutcome.REPLAYED
    assert verify(verifier, answer(challenge, nc=3), now=3.0) is DigestOutcome.ACCEPTED
    # A lower, unused count (requests reordered on UDP) is still fine once.
    assert verify(verifier, answer(challenge, nc=2), now=4.0) is DigestOutcome.ACCEPTED
    assert verify(verifier, answer(challenge, nc=2), now=5.0) is DigestOutcome.REPLAYED


def test_without_qop_a_nonce_is_single_use() -> None:
    verifier = make_verifier()
    challenge = dataclasses.replace(verifier.challenge(realm=REALM, now=0.0), qop=())
    credentials = answer(challenge)
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert verify(verifier, credentials, now=1.0) is DigestOutcome.ACCEPTED
    assert verify(verifier, credentials, now=2.0) is DigestOutcome.REPLAYED


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param(PASSWORD, DigestOutcome.STALE, id="right-response-is-stale"),
        pytest.param("guess", DigestOutcome.WRONG_RESPONSE, id="wrong-response-is-wrong"),
    ],
)
def test_expired_nonce(password: str, expected: DigestOutcome) -> None:
    verifier = make_verifier(lifetime=30.0)
    challenge = verifier.challenge(realm=REALM, now=0.0)
    credentials = answer(challenge, password=password)
    assert verify(verifier, credentials, now=30.001) is expected


def test_nonce_lives_exactly_its_lifetime() -> None:
    verifier = make_verifier(lifetime=30.0)
    challenge = verifier.challenge(realm=REALM, now=0.0)
    assert verify(verifier, answer(challenge), now=30.0) is DigestOutcome.ACCEPTED
    assert verify(verifier, answer(challenge, nc=2), now=30.001) is DigestOutcome.STALE


def test_wrong_password_does_not_burn_the_count() -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm=REALM, now=0.0)
    forged = answer(challenge, password="guess")
    assert verify(verifier, forged, now=1.0) is DigestOutcome.WRONG_RESPONSE
    assert verify(verifier, forged, now=1.0).reason == "digest_wrong_response"
    assert verify(verifier, answer(challenge), now=2.0) is DigestOutcome.ACCEPTED


def _tamper(nonce: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    raw[3] ^= 0x01  # shift the issue time by a few milliseconds
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "nonce_of",
    [
        pytest.param(_tamper, id="tampered"),
        pytest.param(lambda n: n[:-1] + ("A" if n[-1] != "A" else "Q"), id="last-char"),
        pytest.param(lambda n: "dcd98b7102dd2f0e8b11d0f600bfb0c093", id="foreign"),
        pytest.param(lambda n: "", id="empty"),
        pytest.param(lambda n: n + "==", id="padded"),
    ],
)
def test_nonce_that_is_not_ours_is_bad(nonce_of: Callable[[str], str]) -> None:
    verifier = make_verifier()
    genuine = verifier.challenge(realm=REALM, now=0.0)
    challenge = dataclasses.replace(genuine, nonce=nonce_of(genuine.nonce))
    assert verify(verifier, answer(challenge), now=1.0) is DigestOutcome.BAD_NONCE


def test_nonce_issued_for_another_realm_is_bad() -> None:
    verifier = make_verifier()
    other = verifier.challenge(realm="other.example.com", now=0.0)
    moved = dataclasses.replace(other, realm=REALM)
    assert verify(verifier, answer(moved), now=1.0) is DigestOutcome.BAD_NONCE


def test_nonce_from_the_future_is_bad_beyond_the_skew() -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm=REALM, now=100.0)
    assert verify(verifier, answer(challenge), now=96.0) is DigestOutcome.ACCEPTED
    assert verify(verifier, answer(challenge, nc=2), now=94.0) is DigestOutcome.BAD_NONCE


def test_realm_mismatch() -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm="other.example.com", now=0.0)
    credentials = answer(challenge)
    outcome = verifier.verify(credentials, method="REGISTER", realm=REALM, ha1="0" * 32, now=1.0)
    assert outcome is DigestOutcome.REALM_MISMATCH


def test_rfc4475_unknown_scheme_parses_and_is_unsupported() -> None:
    # RFC 4475 §3.3.7: Authorization: NoOneKnowsThisScheme opaque-data=here
    credentials = parse_credentials("NoOneKnowsThisScheme opaque-data=here")
    assert credentials.scheme == "NoOneKnowsThisScheme"
    assert not credentials.is_digest
    assert credentials.params == (("opaque-data", "here"),)
    assert credentials.to_header_value() == "NoOneKnowsThisScheme opaque-data=here"
    verifier = make_verifier()
    assert verify(verifier, credentials, now=0.0) is DigestOutcome.UNSUPPORTED


def test_basic_token68_parses_and_is_unsupported() -> None:
    credentials = parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert credentials.token68 == "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert credentials.to_header_value() == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert verify(make_verifier(), credentials, now=0.0) is DigestOutcome.UNSUPPORTED
    assert parse_credentials("Other realm=").token68 == "realm="


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("qop", "auth-int", DigestOutcome.UNSUPPORTED, id="auth-int"),
        pytest.param("algorithm", "SHA-1", DigestOutcome.UNSUPPORTED, id="unknown-algorithm"),
        pytest.param("userhash", "true", DigestOutcome.UNSUPPORTED, id="userhash"),
        pytest.param("response", None, DigestOutcome.MALFORMED, id="no-response"),
        pytest.param("username", None, DigestOutcome.MALFORMED, id="no-username"),
        pytest.param("realm", None, DigestOutcome.MALFORMED, id="no-realm"),
        pytest.param("uri", None, DigestOutcome.MALFORMED, id="no-uri"),
        pytest.param("nc", None, DigestOutcome.MALFORMED, id="qop-without-nc"),
        pytest.param("cnonce", None, DigestOutcome.MALFORMED, id="qop-without-cnonce"),
        pytest.param("nc", "1", DigestOutcome.MALFORMED, id="short-nc"),
        pytest.param("nc", "00000000", DigestOutcome.MALFORMED, id="zero-nc"),
        pytest.param("nc", "0000000g", DigestOutcome.MALFORMED, id="non-hex-nc"),
        pytest.param("response", "xyz", DigestOutcome.MALFORMED, id="short-response"),
        pytest.param("response", "z" * 32, DigestOutcome.MALFORMED, id="non-hex-response"),
        pytest.param("response", "0" * 32, DigestOutcome.WRONG_RESPONSE, id="zero-response"),
    ],
)
def test_field_problems(name: str, value: str | None, expected: DigestOutcome) -> None:
    verifier = make_verifier()
    credentials = answer(verifier.challenge(realm=REALM, now=0.0))
    assert verify(verifier, with_param(credentials, name, value), now=1.0) is expected


def test_sess_algorithm_without_qop_is_malformed() -> None:
    verifier = make_verifier()
    challenge = verifier.challenge(realm=REALM, now=0.0, algorithm=Algorithm.MD5_SESS)
    credentials = answer(challenge)
    for name in ("qop", "nc", "cnonce"):
        credentials = with_param(credentials, name, None)
    assert verify(verifier, credentials, now=1.0) is DigestOutcome.MALFORMED


def test_ha1_for_another_algorithm_and_refused_algorithms_are_unsupported() -> None:
    nonces = NonceFactory(SECRET, random_bytes=CountingBytes())
    verifier = DigestVerifier(
        nonces=nonces,
        replay=ReplayTracker(lifetime=nonces.lifetime),
        algorithms=frozenset({Algorithm.SHA_256}),
    )
    md5 = answer(verifier.challenge(realm=REALM, now=0.0))
    assert verify(verifier, md5, now=1.0) is DigestOutcome.UNSUPPORTED
    sha = answer(verifier.challenge(realm=REALM, now=0.0, algorithm=Algorithm.SHA_256))
    outcome = verifier.verify(sha, method="REGISTER", realm=REALM, ha1="0" * 32, now=1.0)
    assert outcome is DigestOutcome.UNSUPPORTED
    assert verify(verifier, sha, now=1.0) is DigestOutcome.ACCEPTED


def test_outcomes_carry_reason_codes() -> None:
    reasons = {outcome.reason for outcome in DigestOutcome}
    assert len(reasons) == len(DigestOutcome)
    assert all(reason.startswith("digest_") for reason in reasons)
    assert DigestOutcome.STALE.reason == "digest_stale"


def test_verifier_refuses_a_tracker_that_forgets_too_early() -> None:
    nonces = NonceFactory(SECRET, lifetime=300.0, random_bytes=CountingBytes())
    with pytest.raises(ValueError, match="as long as nonces live"):
        DigestVerifier(nonces=nonces, replay=ReplayTracker(lifetime=60.0))


# --- nonces and the bounded tracker ----------------------------------------------------------


def test_nonces_differ_within_one_instant_and_are_base64url() -> None:
    factory = NonceFactory(SECRET, random_bytes=CountingBytes())
    first = factory.issue(realm=REALM, now=5.0)
    second = factory.issue(realm=REALM, now=5.0)
    assert first != second
    for nonce in (first, second):
        assert not set("=+/") & set(nonce)
        check = factory.check(nonce, realm=REALM, now=5.0)
        assert check.status is NonceStatus.FRESH
        assert check.issued_at == 5.0


def test_nonce_factory_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        NonceFactory(b"short", random_bytes=CountingBytes())
    factory = NonceFactory(SECRET, random_bytes=lambda size: b"\x00")
    with pytest.raises(ValueError, match="random_bytes"):
        factory.issue(realm=REALM, now=0.0)


def test_tracker_evicts_oldest_and_raises_the_floor() -> None:
    tracker = ReplayTracker(lifetime=300.0, max_entries=2)
    assert tracker.record(nonce="a", issued_at=1.0, nc=1, now=10.0) is ReplayVerdict.FIRST_USE
    assert tracker.record(nonce="b", issued_at=2.0, nc=1, now=10.0) is ReplayVerdict.FIRST_USE
    assert tracker.floor is None
    assert tracker.record(nonce="c", issued_at=3.0, nc=1, now=10.0) is ReplayVerdict.FIRST_USE
    assert len(tracker) == 2
    assert tracker.floor == 1.0
    # "a" was forgotten: neither its old pair nor a new one may pass as a first use.
    assert tracker.record(nonce="a", issued_at=1.0, nc=1, now=11.0) is ReplayVerdict.STALE
    assert tracker.record(nonce="a", issued_at=1.0, nc=2, now=11.0) is ReplayVerdict.STALE
    assert tracker.record(nonce="b", issued_at=2.0, nc=1, now=11.0) is ReplayVerdict.REPLAYED


def test_tracker_drops_entries_when_their_nonce_expires() -> None:
    tracker = ReplayTracker(lifetime=60.0)
    tracker.record(nonce="a", issued_at=0.0, nc=1, now=0.0)
    tracker.record(nonce="a", issued_at=0.0, nc=2, now=0.0)
    tracker.record(nonce="b", issued_at=30.0, nc=1, now=30.0)
    assert len(tracker) == 3
    tracker.record(nonce="c", issued_at=61.0, nc=1, now=61.0)
    assert len(tracker) == 2
    assert tracker.floor is None
    # Forgotten because expired, so it must not count as a first use again.
    assert tracker.record(nonce="a", issued_at=0.0, nc=1, now=61.0) is ReplayVerdict.STALE


def test_tracker_caps_uses_of_one_nonce() -> None:
    tracker = ReplayTracker(lifetime=60.0, max_uses_per_nonce=2)
    assert tracker.record(nonce="a", issued_at=0.0, nc=1, now=0.0) is ReplayVerdict.FIRST_USE
    assert tracker.record(nonce="a", issued_at=0.0, nc=2, now=0.0) is ReplayVerdict.FIRST_USE
    assert tracker.record(nonce="a", issued_at=0.0, nc=2, now=0.0) is ReplayVerdict.REPLAYED
    assert tracker.record(nonce="a", issued_at=0.0, nc=3, now=0.0) is ReplayVerdict.STALE


def test_verifier_reports_stale_for_nonces_the_full_tracker_forgot() -> None:
    verifier = make_verifier(max_entries=2)
    old = verifier.challenge(realm=REALM, now=0.0)
    assert verify(verifier, answer(old), now=0.5) is DigestOutcome.ACCEPTED
    for second in (1.0, 2.0):
        newer = verifier.challenge(realm=REALM, now=second)
        assert verify(verifier, answer(newer), now=second) is DigestOutcome.ACCEPTED
    assert verify(verifier, answer(old), now=3.0) is DigestOutcome.STALE  # not ACCEPTED
    assert verify(verifier, answer(old, nc=2), now=3.0) is DigestOutcome.STALE
    fresh = verifier.challenge(realm=REALM, now=4.0, stale=True)
    assert "stale=true" in fresh.to_header_value()
    assert verify(verifier, answer(fresh), now=4.0) is DigestOutcome.ACCEPTED


# --- header grammar --------------------------------------------------------------------------


def test_challenge_header_value() -> None:
    challenge = Challenge(
        realm="biloxi.com", nonce="abc", algorithm=Algorithm.SHA_256, qop=("auth",), stale=True
    )
    assert challenge.to_header_value() == (
        'Digest realm="biloxi.com", nonce="abc", algorithm=SHA-256, qop="auth", stale=true'
    )


def test_parse_challenge_reads_every_field() -> None:
    challenge = parse_challenge(
        'digest REALM="a \\"b\\"" , nonce=xyz ,algorithm=sha-256-SESS, stale=TRUE,'
        ' domain="sip:a.example sip:b.example", opaque="o", charset=UTF-8'
    )
    assert challenge == Challenge(
        realm='a "b"',
        nonce="xyz",
        algorithm=Algorithm.SHA_256_SESS,
        qop=(),
        opaque="o",
        stale=True,
        domain=("sip:a.example", "sip:b.example"),
    )
    assert parse_challenge(challenge.to_header_value()) == dataclasses.replace(challenge, qop=())


def test_lws_and_line_folding_are_tolerated() -> None:
    credentials = parse_credentials(
        'Digest  username = "bob" ,\r\n\trealm="biloxi.com",nonce="n",\r\n  uri="sip:b"'
    )
    assert credentials.username == "bob"
    assert credentials.realm == "biloxi.com"
    assert credentials.uri == "sip:b"
    assert [name for name, _ in credentials.params] == ["username", "realm", "nonce", "uri"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(" \t ", "empty", id="blank"),
        pytest.param("Digest", "auth-scheme", id="scheme-only"),
        pytest.param('"Digest" a=b', "auth-scheme", id="quoted-scheme"),
        pytest.param('Digest realm="abc', "unterminated", id="unterminated"),
        pytest.param('Digest realm="abc\\"', "unterminated", id="escaped-last-quote"),
        pytest.param("Digest realm=", "malformed", id="no-value"),
        pytest.param("Digest =x", "malformed", id="no-name"),
        pytest.param("Digest a=b c=d", "malformed", id="missing-comma"),
        pytest.param('Digest realm="x"junk', "malformed", id="junk-after-quote"),
        pytest.param("Digest a=b,,c=d", "malformed", id="empty-element"),
        pytest.param("Digest a=b,", "comma", id="trailing-comma"),
        pytest.param("Digest a=b, A=c", "duplicate", id="duplicate"),
        pytest.param('Digest realm="a\r\nb"', "control", id="bare-crlf"),
        pytest.param('Digest realm="a\x00"', "control", id="nul"),
        pytest.param("Digest a=" + "b" * MAX_VALUE_LENGTH, "longer", id="too-long"),
        pytest.param("X " + ", ".join(f"p{i}=v" for i in range(33)), "parameters", id="too-many"),
    ],
)
def test_parse_errors(value: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse_credentials(value)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("Basic abc=", "not Digest", id="basic"),
        pytest.param("Other realm=a, nonce=b", "not Digest", id="other-scheme"),
        pytest.param('Digest realm="a"', "lacks", id="no-nonce"),
        pytest.param('Digest realm="a", nonce="b", algorithm=SHA-1', "unsupported", id="sha1"),
    ],
)
def test_challenge_parse_errors(value: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_challenge(value)


def test_serialising_refuses_header_injection() -> None:
    credentials = Credentials(scheme="Digest", params=(("username", "bob\r\nVia: evil"),))
    with pytest.raises(ValueError, match="control"):
        credentials.to_header_value()
    with pytest.raises(ValueError, match="token"):
        Credentials(scheme="Di gest", params=(("a", "b"),)).to_header_value()


def test_algorithm_tokens() -> None:
    assert Algorithm.from_token(None) is Algorithm.MD5
    assert Algorithm.from_token("md5-SESS") is Algorithm.MD5_SESS
    assert Algorithm.from_token("sha-512-256") is Algorithm.SHA_512_256
    assert Algorithm.from_token("SHA-1") is None


def test_build_credentials_refuses_unanswerable_challenges() -> None:
    with pytest.raises(ValueError, match="qop"):
        answer(Challenge(realm=REALM, nonce="n", qop=("auth-int",)))
    with pytest.raises(ValueError, match="qop"):
        answer(Challenge(realm=REALM, nonce="n", qop=(), algorithm=Algorithm.SHA_256_SESS))
    with pytest.raises(ValueError, match="nc"):
        answer(Challenge(realm=REALM, nonce="n"), nc=0)


@given(st.text(max_size=300))
def test_random_text_raises_only_parse_error(value: str) -> None:
    for parse in (parse_credentials, parse_challenge):
        with contextlib.suppress(ParseError):
            parse(value)


@given(st.text(alphabet='Digest ,="\\\t\r\nabc=-/+\x00é', max_size=120))
def test_grammar_shaped_text_raises_only_parse_error(value: str) -> None:
    for parse in (parse_credentials, parse_challenge):
        with contextlib.suppress(ParseError):
            parse(value)


_VALUES = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=8, unique_by=lambda p: p[0]))
def test_credentials_round_trip(params: list[tuple[str, str]]) -> None:
    for scheme in ("Digest", "Other"):
        credentials = Credentials(scheme=scheme, params=tuple(params))
        assert parse_credentials(credentials.to_header_value()) == credentials
