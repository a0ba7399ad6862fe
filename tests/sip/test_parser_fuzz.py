"""Fuzzing the SIP parser and the stream framer: only ParseError, and quickly.

The contract under test (``ringfence.sip.parser``): whatever the bytes, ``parse_message`` raises
nothing but :class:`ParseError` (``MessageTooLarge`` is one), with ``lazy=False`` and with
``lazy=True`` followed by every accessor; ``StreamFramer.feed`` likewise, with its buffer bounded
by the stream limit. Inputs come from

(a) hypothesis: random bytes, SIP-shaped random text, and random edits of the RFC 4475 corpus;
(b) systematic mutations of every corpus message (truncations, byte flips, insertions of
    CR/LF/NUL/quotes/<>/;/,/% and friends, duplicated and dropped header lines, huge numbers,
    very long lines);
(c) a deterministic loop of stacked random mutations, seeded with ``random.Random(seed)``;

plus explicit pathological inputs. The one timing assertion: no single call takes more than
``BUDGET`` (50 ms). It is generous by design: the maximum over all inputs is asserted, and an
input over budget is measured once more (the faster run counts) to absorb scheduler noise.

Tests named ``test_regression_*`` pin parser defects this file found, now fixed.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.errors import MessageTooLarge, ParseError
from ringfence.sip.message import Message, Request, Response
from ringfence.sip.parser import (
    DEFAULT_LIMITS,
    Frame,
    KeepAlive,
    Limits,
    StreamFramer,
    parse_message,
    response_for_parse_error,
)
from ringfence.sip.uri import SipUri, TelUri, parse_uri

CORPUS_DIR = Path(__file__).parent / "corpus" / "rfc4475"
CORPUS = {p.stem: p.read_bytes() for p in sorted(CORPUS_DIR.glob("*.dat"))}
SAMPLES = list(CORPUS.values())
BUDGET = 0.050  # seconds, per call
STREAM_LIMIT = DEFAULT_LIMITS.max_stream_message
# Limits with the line and count bounds lifted, to push huge inputs into the inner parsers.
RELAXED = Limits(max_datagram=400_000, max_line=400_000, max_header_lines=20_000)

SPECIAL = [
    b"\r", b"\n", b"\r\n", b"\r\n ", b"\r\n\r\n", b"\x00", b'"', b"<", b">", b";", b",", b"%",
    b"\\", b" ", b"\t", b":", b"=", b"@", b"[", b"]", b"?", b"\xff", b"\xc3\xa9", b"\xe2\x80\xa8",
    b"%0", b"%00", b"\xef\xbc\x91",  # fullwidth digit one
]  # fmt: skip
HUGE_NUMBERS = [b"9" * 30, b"4294967296", b"2147483648", b"-1", b"0" * 40 + b"1", b"1e9"]


# --- driving the parser ------------------------------------------------------------------------


def _quietly(read: Callable[[], object]) -> object:
    """Run one accessor; a ParseError is an allowed answer, anything else escapes."""
    try:
        return read()
    except ParseError:
        return None


def touch_everything(msg: Message) -> None:
    """Read every accessor of a lazily parsed message, and the values they return."""
    for via in _quietly(lambda: msg.via) or ():
        _ = (via.branch, via.received, via.rport, via.rport_requested, via.sent_by, str(via))
    _quietly(lambda: msg.top_via.branch)
    addresses = [_quietly(lambda: msg.from_), _quietly(lambda: msg.to)]
    for name in ("contacts", "routes", "record_routes"):
        addresses += _quietly(lambda name=name: getattr(msg, name)) or ()
    for address in addresses:
        if address is None:
            continue
        _ = (address.tag, address.display_name, str(address))
        _quietly(lambda address=address: address.expires)
        _quietly(lambda address=address: address.q)
        touch_uri(address.uri)
    for name in ("call_id", "cseq", "max_forwards", "expires", "content_length"):
        _quietly(lambda name=name: getattr(msg, name))
    for media in [_quietly(lambda: msg.content_type), *(_quietly(lambda: msg.accept) or ())]:
        if media is not None:
            _ = (media.essence, media.matches(media), str(media))
    _quietly(lambda: msg.contact_is_wildcard)
    for name in ("www_authenticate", "proxy_authenticate"):
        for challenge in _quietly(lambda name=name: getattr(msg, name)) or ():
            _ = (challenge.realm, challenge.algorithm, challenge.qop)
    for name in ("authorization", "proxy_authorization"):
        for credentials in _quietly(lambda name=name: getattr(msg, name)) or ():
            _ = (credentials.username, credentials.algorithm, credentials.is_digest)
    for name in ("Require", "Proxy-Require", "Supported", "Unsupported"):
        _quietly(lambda name=name: msg.option_tags(name))
    _ = msg.answer_fields()
    if isinstance(msg, Request):
        uri = _quietly(lambda: msg.uri)
        if uri is not None:
            touch_uri(uri)
    _quietly(msg.validate)


def touch_uri(uri: object) -> None:
    _ = (str(uri), uri == parse_uri(str(uri)), hash(uri))
    if isinstance(uri, SipUri):
        _ = (uri.transport, uri.loose_route, uri.user_unescaped, uri.secure, uri.aor())
    elif isinstance(uri, TelUri):
        _ = (uri.digits, uri.is_global)


def full_parse(data: bytes) -> None:
    try:
        parse_message(data)
    except ParseError as error:
        # Whatever a 400 for it would copy must itself form a message (RFC 3261 §8.2.6.2).
        answer = response_for_parse_error(error, to_tag="t1", warn_agent="ringfence")
        if answer is not None:
            assert isinstance(parse_message(answer.to_bytes(), lazy=True), Response)


def lazy_parse(data: bytes) -> None:
    try:
        msg = parse_message(data, lazy=True)
    except ParseError:
        return
    touch_everything(msg)


class Stopwatch:
    """Keeps the slowest call seen; an over-budget call is re-measured once."""

    def __init__(self) -> None:
        self.worst = (0.0, "", b"")
        self.calls = 0

    def run(self, label: str, call: Callable[[bytes], object], data: bytes) -> None:
        self.calls += 1
        try:
            elapsed = self._time(call, data)
            if elapsed > BUDGET:
                elapsed = min(elapsed, self._time(call, data))
        except Exception as error:  # each call catches ParseError itself: nothing may escape
            raise AssertionError(
                f"{label} raised {type(error).__name__}: {error} on input {data[:400]!r}"
            ) from error
        if elapsed > self.worst[0]:
            self.worst = (elapsed, label, data)

    @staticmethod
    def _time(call: Callable[[bytes], object], data: bytes) -> float:
        start = time.perf_counter()
        call(data)
        return time.perf_counter() - start

    def assert_within_budget(self) -> None:
        elapsed, label, data = self.worst
        assert elapsed <= BUDGET, (
            f"{label} took {elapsed * 1000:.1f} ms (budget {BUDGET * 1000:.0f} ms) on a "
            f"{len(data)}-byte input starting {data[:300]!r}"
        )


def exercise(data: bytes, watch: Stopwatch) -> None:
    watch.run("parse_message(lazy=False)", full_parse, data)
    watch.run("parse_message(lazy=True) + accessors", lazy_parse, data)


def frame_in_chunks(data: bytes, rng: random.Random, watch: Stopwatch | None = None) -> None:
    """Feed ``data`` twice over (so a good message frames) in chunks of 1..1400 bytes."""
    stream = data + data
    framer = StreamFramer()

    def feed_all(_: bytes) -> None:
        at = 0
        while at < len(stream):
            size = rng.randint(1, 1400)
            try:
                out = framer.feed(stream[at : at + size])
            except ParseError:
                return  # the connection would be closed here
            at += size
            assert framer.buffered <= STREAM_LIMIT, "framer buffer over the stream limit"
            for item in out:
                assert isinstance(item, Frame | KeepAlive)
                if isinstance(item, Frame):
                    _quietly(lambda item=item: parse_message(item.data, stream=True))

    if watch is None:
        feed_all(stream)
    else:
        watch.run("StreamFramer.feed (whole input)", feed_all, stream)


# --- mutations ---------------------------------------------------------------------------------


def line_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line of the header section, CRLF excluded."""
    head_end = data.find(b"\r\n\r\n")
    head_end = len(data) if head_end < 0 else head_end
    spans, at = [], 0
    while at < head_end:
        end = data.find(b"\r\n", at, head_end)
        end = head_end if end < 0 else end
        spans.append((at, end))
        at = end + 2
    return spans


def systematic_mutations(data: bytes) -> Iterator[bytes]:
    spans = line_spans(data)
    for cut in sorted(
        {*range(0, len(data), 23), *(e for _, e in spans), *(e + 1 for _, e in spans)}
    ):
        yield data[:cut]
    for at in range(0, len(data), max(1, len(data) // 24)):
        for mask in (0x01, 0x20, 0x80):
            yield data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]
    for start, end in spans[:24]:
        line = data[start:end]
        colon = line.find(b":")
        points = {start, end, start + colon + 1 if colon >= 0 else start + 1}
        for mark in b";<@>,=":
            found = line.find(bytes([mark]))
            if found >= 0:
                points.add(start + found)
        for point in sorted(points):
            for token in SPECIAL:
                yield data[:point] + token + data[point:]
        if start:
            yield data[:end] + b"\r\n" + line + data[end:]  # duplicated header line
            yield data[:start] + data[end + 2 :]  # dropped header line
            yield data[:end] + b"a" * 7_000 + data[end:]  # long, under max_line
            yield data[:end] + b"a" * 9_000 + data[end:]  # over max_line
            yield data[:end] + b" ;x=" + b"y" * 5_000 + data[end:]
    yield data.replace(b"SIP/2.0", b"SIP/2.0" + b"0" * 5_000, 1)  # a very long start line
    for number in list(re.finditer(rb"[0-9]+", data))[:40]:
        for huge in HUGE_NUMBERS:
            yield data[: number.start()] + huge + data[number.end() :]


def random_mutation(rng: random.Random, data: bytes) -> bytes:
    """One to four stacked edits of the kinds the systematic list has, at random places."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(buf))
        kind = rng.randrange(9)
        if kind == 0 and at < len(buf):
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[at:at] = rng.choice(SPECIAL)
        elif kind == 2:
            del buf[at : at + rng.randint(1, 16)]
        elif kind == 3:
            del buf[at:]
        elif kind == 4:
            lines = bytes(buf).split(b"\r\n")
            if len(lines) > 2:
                pick = rng.randrange(1, len(lines))
                lines.insert(rng.randrange(1, len(lines)), lines[pick])
                buf = bytearray(b"\r\n".join(lines))
        elif kind == 5:
            numbers = list(re.finditer(rb"[0-9]+", bytes(buf)))
            if numbers:
                found = rng.choice(numbers)
                buf[found.start() : found.end()] = rng.choice(HUGE_NUMBERS)
        elif kind == 6:
            filler = rng.choice([b"a", b";", b",", b"%", b" ", b'"', b"<", b"%41"])
            buf[at:at] = filler * rng.randint(10, 3_000)
        elif kind == 7:
            other = rng.choice(SAMPLES)
            start = rng.randrange(len(other))
            buf[at:at] = other[start : start + rng.randint(1, 300)]  # splice from another
        else:
            start = rng.randint(0, len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 200)]  # duplicate a piece
    return bytes(buf)


# --- (a) hypothesis ------------------------------------------------------------------------------

FUZZ = settings(deadline=None, max_examples=250, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.binary(max_size=3_000))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    watch = Stopwatch()
    exercise(data, watch)
    exercise(b"INVITE sip:a@example.com SIP/2.0\r\n" + data, watch)
    watch.assert_within_budget()


HEADER_NAMES = [
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Route",
    "Record-Route", "Max-Forwards", "Expires", "Content-Type", "c", "Content-Length", "l",
    "Accept", "Supported", "k", "Require", "Proxy-Require", "Authorization", "WWW-Authenticate",
    "Proxy-Authenticate", "Proxy-Authorization", "X-Other",
]  # fmt: skip
FRAGMENTS = [
    "SIP/2.0/UDP ", "SIP/2.0/TCP ", "sip:", "sips:", "tel:", "+1-555", "user", "@", "host.example",
    "192.0.2.1", "[2001:db8::1]", "[::1", ":5060", ":99999", ";branch=z9hG4bK", ";rport",
    ";received=", ";ttl=", ";tag=", ";lr", ";q=", ";expires=", ";transport=tcp", "<", ">", '"',
    "\\", ",", ";", "=", " ", "\t", "%", "%41", "%4", "?", "&", "INVITE", "1", "0", "65536",
    "4294967296", "Digest ", "realm=", "nonce=", "username=", "application/sdp", "*", "é",
    "\x00", "\x7f", "\n",
]  # fmt: skip
values = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@FUZZ
@given(
    st.sampled_from(
        [
            "INVITE sip:bob@example.com SIP/2.0",
            "REGISTER sip:example.com SIP/2.0",
            "SIP/2.0 200 OK",
            "SIP/2.0 100 ",
            "OPTIONS tel:+15551234 SIP/2.0",
        ]
    ),
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), values), max_size=12),
    st.binary(max_size=64),
)
def test_sip_shaped_text_raises_only_parse_error(
    start: str, fields: list[tuple[str, str]], body: bytes
) -> None:
    base = [
        ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"),
        ("From", "<sip:a@example.com>;tag=1"),
        ("To", "<sip:b@example.com>"),
        ("Call-ID", "c@x"),
        ("CSeq", "1 INVITE"),
    ]
    watch = Stopwatch()
    for head in (fields, base + fields, base[: len(fields) % 5] + fields):
        text = start + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in head) + "\r\n"
        exercise(text.encode() + body, watch)
    watch.assert_within_budget()


@FUZZ
@given(
    st.sampled_from(sorted(CORPUS)),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from([*SPECIAL, b"", b"a" * 500])), max_size=5),
)
def test_hypothesis_edits_of_corpus_raise_only_parse_error(
    name: str, edits: list[tuple[float, bytes]]
) -> None:
    data = CORPUS[name]
    for where, token in edits:
        at = int(where * len(data))
        data = data[:at] + token + data[at + (0 if token else 1) :]  # insert, or delete a byte
    watch = Stopwatch()
    exercise(data, watch)
    frame_in_chunks(data, random.Random(len(data)), watch)
    watch.assert_within_budget()


# --- (b) systematic mutations of each corpus message ---------------------------------------------


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_systematic_mutations_of_corpus_raise_only_parse_error(name: str) -> None:
    rng = random.Random(name)
    watch = Stopwatch()
    exercise(CORPUS[name], watch)
    for mutated in systematic_mutations(CORPUS[name]):
        exercise(mutated, watch)
        frame_in_chunks(mutated, rng, watch)
    assert watch.calls > 600
    watch.assert_within_budget()


def test_corpus_is_complete() -> None:
    assert len(CORPUS) == 49


# --- (c) deterministic random mutation loop ----------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_seeded_mutation_loop_raises_only_parse_error(seed: int) -> None:
    rng = random.Random(seed)
    watch = Stopwatch()
    for _ in range(750):
        data = random_mutation(rng, rng.choice(SAMPLES))
        exercise(data, watch)
        frame_in_chunks(data, rng, watch)
    watch.assert_within_budget()


def test_mutations_that_parse_round_trip() -> None:
    """Whatever mutated input the parser accepts, it serialises back to an equal message."""
    rng = random.Random(1234)
    accepted = 0
    for _ in range(3_000):
        data = random_mutation(rng, rng.choice(SAMPLES))
        for lazy in (False, True):
            try:
                msg = parse_message(data, lazy=lazy)
            except ParseError:
                continue
            accepted += 1
            again = parse_message(msg.to_bytes(), lazy=lazy)
            assert again == msg, data
            assert again.to_bytes() == msg.to_bytes(), data
    assert accepted > 100


# --- stream framing ------------------------------------------------------------------------------


def framed_corpus() -> list[bytes]:
    """Corpus messages that parse and carry Content-Length, re-serialised so that each ends
    exactly where its body does: what a TCP peer would send."""
    out = []
    for data in SAMPLES:
        try:
            msg = parse_message(data)
        except ParseError:
            continue
        if msg.content_length is not None:
            out.append(msg.to_bytes())
    return out


VALID_FRAMED = framed_corpus()


def test_enough_corpus_messages_frame() -> None:
    assert len(VALID_FRAMED) >= 10


@FUZZ
@given(
    st.lists(st.sampled_from([*VALID_FRAMED, b"\r\n\r\n"]), min_size=1, max_size=6),
    st.lists(st.integers(1, 1_400), min_size=1, max_size=40),
)
def test_framer_cuts_a_valid_stream_exactly(messages: list[bytes], sizes: list[int]) -> None:
    """Any chunking of a stream of framed messages yields the same frames, in order."""
    stream = b"".join(messages)
    framer = StreamFramer()
    out: list[Frame | KeepAlive] = []
    at = 0
    for size in sizes * (len(stream) // sum(sizes) + 1):
        out += framer.feed(stream[at : at + size])
        at += size
        if at >= len(stream):
            break
    expected = [KeepAlive() if m == b"\r\n\r\n" else Frame(m) for m in messages]
    assert out == expected
    assert framer.buffered == 0
    for item in out:
        if isinstance(item, Frame):
            parse_message(item.data, stream=True)


def test_framer_refuses_an_endless_header_without_growing_past_the_limit() -> None:
    framer = StreamFramer()
    chunk = b"X-Filler: " + b"a" * 1_390
    fed = 0
    while fed + len(chunk) <= STREAM_LIMIT:
        assert framer.feed(chunk) == []
        fed += len(chunk)
        assert framer.buffered == fed
    with pytest.raises(MessageTooLarge):
        framer.feed(chunk)


def test_framer_byte_by_byte_gives_one_frame() -> None:
    data = VALID_FRAMED[0]
    framer = StreamFramer()
    out = [item for i in range(len(data)) for item in framer.feed(data[i : i + 1])]
    assert out == [Frame(data)]


# --- explicit pathological inputs ----------------------------------------------------------------

HEAD = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
    b"Call-ID: c@x\r\nCSeq: 1 INVITE\r\n"
)


def with_field(line: bytes) -> bytes:
    """HEAD with ``line`` (``Name: value``) in place of the field of that name, or added."""
    name = line.split(b":", 1)[0]
    kept = [f for f in HEAD.split(b"\r\n")[:-1] if f.split(b":", 1)[0] != name]
    return b"\r\n".join(kept) + b"\r\n" + line + b"\r\n"


def timed(call: Callable[[], object]) -> tuple[object, float]:
    """Run ``call``; return its result (or the ParseError it raised) and the best of two times."""
    best, result = float("inf"), None
    for _ in range(2):
        start = time.perf_counter()
        try:
            result = call()
        except ParseError as error:
            result = error
        best = min(best, time.perf_counter() - start)
        if best <= BUDGET:
            break
    return result, best


def check_pathological(data: bytes, limits: Limits = DEFAULT_LIMITS) -> object:
    """Full and lazy parse: only ParseError, within budget. Return the full parse outcome."""
    outcome, elapsed = timed(lambda: parse_message(data, limits=limits))
    assert elapsed <= BUDGET, f"full parse took {elapsed * 1000:.1f} ms"

    def lazy() -> None:
        touch_everything(parse_message(data, lazy=True, limits=limits))

    _, elapsed = timed(lazy)
    assert elapsed <= BUDGET, f"lazy parse took {elapsed * 1000:.1f} ms"
    return outcome


def test_a_full_size_datagram_of_one_header_line() -> None:
    line = b"Subject: "
    data = (
        HEAD + line + b"a" * (DEFAULT_LIMITS.max_datagram - len(HEAD) - len(line) - 4) + b"\r\n\r\n"
    )
    assert len(data) == 65_507
    assert isinstance(check_pathological(data), MessageTooLarge)  # a line over max_line
    assert isinstance(check_pathological(data + b"a"), MessageTooLarge)  # over max_datagram
    relaxed = check_pathological(data, RELAXED)
    assert isinstance(relaxed, Request)
    assert len(relaxed.headers.get("Subject") or "") == 65_507 - len(HEAD) - len(line) - 4


def test_ten_thousand_header_lines() -> None:
    data = HEAD + b"".join(b"X-%d: a\r\n" % i for i in range(10_000)) + b"\r\n"
    assert isinstance(check_pathological(data), MessageTooLarge)
    relaxed = check_pathological(data, RELAXED)
    assert isinstance(relaxed, Request)
    assert len(relaxed.headers) == 10_005


@pytest.mark.parametrize("count", [5, 4_000, 60_000])
@pytest.mark.parametrize(
    "template",
    [
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1{}\r\n",
        b"Contact: <sip:x@example.com{}>\r\n",
        b"Contact: <sip:x@example.com>{}\r\n",
        b"Content-Type: application/sdp{}\r\n",
        b"Route: <sip:p.example.com;lr>{}\r\n",
    ],
)
def test_runs_of_semicolons_are_refused(template: bytes, count: int) -> None:
    data = HEAD + template.replace(b"{}", b";" * count) + b"\r\n"
    limits = RELAXED if count > 8_000 else DEFAULT_LIMITS
    assert isinstance(check_pathological(data, limits), ParseError)


def test_semicolons_in_the_request_uri_are_refused() -> None:
    data = HEAD.replace(b"bob@example.com SIP", b"bob@example.com" + b";" * 4_000 + b" SIP", 1)
    assert isinstance(check_pathological(data), ParseError)


def test_five_thousand_commas_in_a_via() -> None:
    data = HEAD + b"Via: SIP/2.0/UDP h" + b"," * 5_000 + b"\r\n\r\n"
    error = check_pathological(data)
    assert isinstance(error, ParseError)
    assert "empty element" in error.reason


def test_four_thousand_five_hundred_via_elements() -> None:
    lines = b"".join(b"v: " + b",".join([b"SIP/2.0/UDP h"] * 500) + b"\r\n" for _ in range(9))
    msg = check_pathological(HEAD + lines + b"\r\n")
    assert isinstance(msg, Request)
    assert len(msg.via) == 4_501


@pytest.mark.parametrize(
    "template",
    [
        b'To: "{}<sip:bob@example.com>\r\n',
        b'Contact: "{}\r\n',
        b'Via: SIP/2.0/UDP h;branch=z9hG4bK2;x="{}\r\n',
        b'Route: <sip:p.example.com;lr>;x="{}\r\n',
        b'Content-Type: text/plain;charset="{}\r\n',
        b'Authorization: Digest username="{}\r\n',
        b'Subject: "{}\r\n',
    ],
)
def test_a_sixty_kilobyte_quoted_string_without_closing_quote(template: bytes) -> None:
    data = with_field(template.replace(b"{}", b"a" * 60_000).removesuffix(b"\r\n")) + b"\r\n"
    assert isinstance(check_pathological(data), MessageTooLarge)  # over max_line
    outcome = check_pathological(data, RELAXED)  # into the quoted-string scanners
    if template.startswith(b"Subject"):
        assert isinstance(outcome, Request)  # free text: a lone quote is just a character
    else:
        assert isinstance(outcome, ParseError)


def test_many_percent_escapes_in_a_uri() -> None:
    escaped = HEAD + b"Contact: <sip:" + b"%41" * 1_300 + b"@example.com>\r\n\r\n"
    msg = check_pathological(escaped)
    assert isinstance(msg, Request)
    (contact,) = msg.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user_unescaped == "A" * 1_300
    for junk in (b"%" * 4_000, b"%4" * 2_000, b"%zz" * 1_300, b"%41" * 20_000):
        bad = HEAD + b"Contact: <sip:" + junk + b"@example.com>\r\n\r\n"
        assert isinstance(check_pathological(bad, RELAXED), ParseError)
        ruri = HEAD.replace(b"sip:bob@", b"sip:" + junk + b"@", 1) + b"\r\n"
        assert isinstance(check_pathological(ruri, RELAXED), ParseError)


@pytest.mark.parametrize("length", [b"1" + b"0" * 30, b"9" * 11, b"99999999999999999999999"])
def test_an_enormous_content_length(length: bytes) -> None:
    data = HEAD + b"Content-Length: " + length + b"\r\n\r\nbody"
    assert isinstance(check_pathological(data), ParseError)
    with pytest.raises(ParseError):
        parse_message(data, stream=True)
    framer = StreamFramer()
    with pytest.raises(ParseError):
        framer.feed(data)


def test_a_content_length_just_over_the_stream_limit_is_refused_at_once() -> None:
    data = HEAD + b"Content-Length: %d\r\n\r\n" % STREAM_LIMIT
    with pytest.raises(MessageTooLarge):
        StreamFramer().feed(data)


# --- pinned defects ----------------------------------------------------------------------------


@pytest.mark.parametrize("spaces", [8_000])
def test_regression_framer_content_length_with_inner_whitespace_is_quadratic(spaces: int) -> None:
    """Regression (CPU exhaustion): ``parser._CONTENT_LENGTH`` is ``...([^\\r\\n]*?)[ \\t]*\\r?$``.

    The lazy group and ``[ \\t]*`` overlap, so a Content-Length value of ``0``, a run of N spaces
    and one more non-space character costs O(N^2) regex steps: 8,000 spaces take ~0.4 s and
    60,000 (one header line in a 64 KB TCP message) take ~23 s inside one ``feed`` call. The
    parser proper never sees it (its 8 KB line limit), but the framer runs first and has no line
    limit. Expected: refused (ParseError) within budget.
    """
    data = HEAD + b"Content-Length: 0" + b" " * spaces + b"x\r\n\r\n"
    outcome, elapsed = timed(lambda: StreamFramer().feed(data))
    assert isinstance(outcome, ParseError)
    assert elapsed <= BUDGET, f"StreamFramer.feed took {elapsed * 1000:.0f} ms"


@pytest.mark.parametrize(
    "host",
    [
        "1\uff12\uff17.0.0.1",  # "1２７.0.0.1": NFKC (and so IDNA, getaddrinfo) gives 127.0.0.1
        "22\u0664.0.0.1",  # Arabic-Indic digit four: 224.0.0.1, a multicast address
        "\uff10.\uff10.\uff10.\uff10",  # fullwidth zeros: 0.0.0.0
    ],
)
@pytest.mark.parametrize("where", ["Via", "Request-URI", "To"])
def test_regression_unicode_digits_pass_as_an_ipv4_host(host: str, where: str) -> None:
    """Regression: ``uri._IPV4`` and ``uri._FAST_SIP`` use ``\\d``, which in a ``str`` pattern
    matches every Unicode decimal digit, so a host such as ``1２７.0.0.1`` is accepted as IPv4.

    ``ipaddress`` refuses it, so ``proxy.response_destination_is_safe`` treats it as a host name
    and calls it safe, while ``socket.getaddrinfo`` (IDNA, NFKC) resolves ``22٤.0.0.1`` to the
    multicast 224.0.0.1 and ``０.０.０.０`` to 0.0.0.0: the RFC 4475 §3.3.10 check is bypassed.
    Expected: ParseError ("bad host"). Fix: ``[0-9]`` in place of ``\\d``.
    """
    text = HEAD.decode()
    if where == "Via":
        text = text.replace("192.0.2.1", host, 1)
    elif where == "Request-URI":
        text = text.replace("sip:bob@example.com", f"sip:bob@{host}", 1)
    else:
        text = text.replace("To: <sip:bob@example.com>", f"To: <sip:bob@{host}>", 1)
    with pytest.raises(ParseError):
        parse_message((text + "\r\n").encode())


def test_regression_bare_lf_inside_a_header_name_is_accepted_on_the_fast_path() -> None:
    """Regression: ``parser._NAMES`` checks all names joined by ``\\n``, so a name that itself holds
    a bare LF (``X\\nVia``) passes; the slow path (taken when any line is folded) refuses the
    same line with "bad header name". A proxy then forwards ``X\\nVia: ...`` verbatim, and a
    next hop that accepts bare-LF line ends (as this parser does for LF-only datagrams) reads an
    injected Via. Expected: ParseError on both paths.
    """
    injected = b"X\nVia: SIP/2.0/UDP evil.example.com;branch=z9hG4bKevil\r\n"
    with pytest.raises(ParseError, match="bare CR or LF"):  # the slow path refuses it
        parse_message(HEAD + injected + b"Subject: a\r\n b\r\n\r\n")
    with pytest.raises(ParseError, match="bare CR or LF"):  # so must the fast path
        parse_message(HEAD + injected + b"\r\n")
