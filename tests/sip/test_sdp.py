"""SDP value objects (RFC 8866) and SDES crypto attributes (RFC 4568)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.errors import ParseError
from ringfence.sip.sdp import (
    AddrType,
    Attribute,
    Connection,
    CryptoAttribute,
    CryptoKey,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    parse_sdp,
)

KEY_1 = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"  # RFC 4568 examples, 30 bytes each
KEY_2 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


def body(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


BARESIP_SRTP = body(
    "v=0",
    "o=- 1943186403 2153826093 IN IP4 192.168.1.10",
    "s=-",
    "c=IN IP4 192.168.1.10",
    "t=0 0",
    "m=audio 10000 RTP/SAVP 96 9 0 8 101",
    "b=AS:80",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=rtcp-rsize",
    f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}",
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY_2}|2^31|1:1",
    "a=ptime:20",
)
OPUS_PCMU = body(
    "v=0",
    "o=linphone 2384 3729 IN IP4 203.0.113.5",
    "s=Talk",
    "c=IN IP4 203.0.113.5",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "m=audio 7078 RTP/AVP 96 0 101",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 useinbandfec=1",
    "a=rtpmap:101 telephone-event/8000",
    "a=rtcp-fb:* trr-int 1000",
)
IPV6_OFFER = body(
    "v=0",
    "o=alice 2890844526 2890844526 IN IP6 2001:db8::1",
    "s=-",
    "c=IN IP6 2001:db8::1",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0 8",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=ptime:20",
)
HOLD_OFFER = body(
    "v=0",
    "o=- 20518 20519 IN IP4 0.0.0.0",
    "s=-",
    "c=IN IP4 0.0.0.0",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=sendonly",
)
VIDEO_REJECTED = body(
    "v=0",
    "o=bob 2808844564 2808844565 IN IP4 198.51.100.7",
    "s=-",
    "c=IN IP4 198.51.100.7",
    "t=0 0",
    "m=audio 49174 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    "m=video 0 RTP/AVP 31",
    "a=rtpmap:31 H261/90000",
)
RFC8866_EXAMPLE = body(  # RFC 8866 §5, with media-level c= overriding the session
    "v=0",
    "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1",
    "s=Call to John Smith",
    "i=SDP Offer #1",
    "u=http://www.jdoe.example.com/home.html",
    "e=Jane Doe <jane@jdoe.example.com>",
    "p=+1 617 555-6011",
    "c=IN IP4 198.51.100.1",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0",
    "m=audio 49180 RTP/AVP 0",
    "m=video 51372 RTP/AVP 99",
    "c=IN IP6 2001:db8::2",
    "a=rtpmap:99 h263-1998/90000",
)
EVERY_LINE_TYPE = body(  # a multicast announcement using every line type of RFC 8866
    "v=0",
    "o=- 3724394400 3724394405 IN IP4 host.example.com",
    "s=Seminar",
    "i=A seminar about SDP",
    "u=https://example.com/seminar",
    "e=j.doe@example.com (Jane Doe)",
    "e=ops@example.com",
    "p=+44 20 7946 0000",
    "c=IN IP4 233.252.0.1/127/3",
    "b=CT:128",
    "t=3724394400 3754123200",
    "r=604800 3600 0 90000",
    "z=3730928400 -1h 3749680800 0",
    "t=3724484400 3724488000",
    "k=prompt",
    "a=recvonly",
    "a=tool:seminar 1.0",
    "m=audio 49170/2 RTP/AVP 0",
    "i=main audio",
    "c=IN IP6 ff00::db8:0:101/3",
    "c=IN IP6 ff00::db8:0:201",
    "b=AS:64",
    "k=prompt",
    "a=ptime:20",
    "m=text 0 RTP/AVP 98",
    "a=rtpmap:98 t140/1000",
)
MEDIA_LEVEL_C_ONLY = body(
    "v=0",
    "o=- 1 1 IN IP4 192.0.2.1",
    "s= ",
    "t=0 0",
    "a=sendonly",
    "m=audio 5004 RTP/AVP 0",
    "c=IN IP4 192.0.2.1",
    "m=video 5006 RTP/AVP 96",
    "c=IN IP4 192.0.2.2",
    "a=inactive",
    "a=rtpmap:96 H264/90000",
)
FIXTURES = {
    "baresip-srtp": BARESIP_SRTP,
    "opus-pcmu": OPUS_PCMU,
    "ipv6": IPV6_OFFER,
    "hold": HOLD_OFFER,
    "video-rejected": VIDEO_REJECTED,
    "rfc8866-example": RFC8866_EXAMPLE,
    "every-line-type": EVERY_LINE_TYPE,
    "media-level-c": MEDIA_LEVEL_C_ONLY,
}


def summary(sd: SessionDescription) -> list[tuple[str, int, str, tuple[str, ...], str]]:
    return [
        (m.media_type, m.port, m.proto, m.formats, sd.connection_of(i).address)
        for i, m in enumerate(sd.media)
    ]


@pytest.mark.parametrize(
    ("data", "expected_media", "offers_srtp"),
    [
        pytest.param(
            BARESIP_SRTP,
            [("audio", 10000, "RTP/SAVP", ("96", "9", "0", "8", "101"), "192.168.1.10")],
            True,
            id="baresip-srtp",
        ),
        pytest.param(
            OPUS_PCMU,
            [("audio", 7078, "RTP/AVP", ("96", "0", "101"), "203.0.113.5")],
            False,
            id="opus-pcmu",
        ),
        pytest.param(
            IPV6_OFFER,
            [("audio", 49170, "RTP/AVP", ("0", "8"), "2001:db8::1")],
            False,
            id="ipv6",
        ),
        pytest.param(
            HOLD_OFFER,
            [("audio", 4000, "RTP/AVP", ("0", "101"), "0.0.0.0")],  # noqa: S104 - hold, not a bind
            False,
            id="hold",
        ),
        pytest.param(
            VIDEO_REJECTED,
            [
                ("audio", 49174, "RTP/AVP", ("0",), "198.51.100.7"),
                ("video", 0, "RTP/AVP", ("31",), "198.51.100.7"),
            ],
            False,
            id="video-rejected",
        ),
        pytest.param(
            RFC8866_EXAMPLE,
            [
                ("audio", 49170, "RTP/AVP", ("0",), "198.51.100.1"),
                ("audio", 49180, "RTP/AVP", ("0",), "198.51.100.1"),
                ("video", 51372, "RTP/AVP", ("99",), "2001:db8::2"),
            ],
            False,
            id="rfc8866-example",
        ),
    ],
)
def test_real_world_bodies_parse(
    data: bytes, expected_media: list[tuple[object, ...]], offers_srtp: bool
) -> None:
    sd = parse_sdp(data)
    assert summary(sd) == expected_media
    assert sd.offers_srtp() is offers_srtp


def test_baresip_offer_details() -> None:
    sd = parse_sdp(BARESIP_SRTP)
    assert sd.origin == Origin(
        sess_id="1943186403", sess_version=2153826093, address="192.168.1.10"
    )
    audio = sd.media[0]
    assert [str(b) for b in audio.bandwidths] == ["AS:80"]
    assert audio.attribute("fmtp") == Attribute(name="fmtp", value="96 stereo=1;sprop-stereo=1")
    assert audio.attribute("rtcp-rsize") == Attribute(name="rtcp-rsize")
    crypto = audio.crypto()
    assert [(c.tag, c.suite) for c in crypto] == [
        (1, "AES_CM_128_HMAC_SHA1_32"),
        (2, "AES_CM_128_HMAC_SHA1_80"),
    ]
    assert crypto[1].keys[0].lifetime_packets == 2**31
    assert (crypto[1].keys[0].mki, crypto[1].keys[0].mki_length) == (1, 1)
    assert crypto[0].keys[0].key_salt_bytes() == base64.b64decode(KEY_1)


def test_every_line_type_is_modelled() -> None:
    sd = parse_sdp(EVERY_LINE_TYPE)
    assert sd.information == "A seminar about SDP"
    assert sd.uri == "https://example.com/seminar"
    assert sd.emails == ("j.doe@example.com (Jane Doe)", "ops@example.com")
    assert sd.phones == ("+44 20 7946 0000",)
    assert sd.connection == Connection(address="233.252.0.1", ttl=127, count=3)
    assert [(t.start, t.stop, t.repeats, t.zone) for t in sd.times] == [
        (3724394400, 3754123200, ("604800 3600 0 90000",), "3730928400 -1h 3749680800 0"),
        (3724484400, 3724488000, (), None),
    ]
    assert sd.key == "prompt"
    audio = sd.media[0]
    assert (audio.port, audio.port_count, audio.information, audio.key) == (
        49170,
        2,
        "main audio",
        "prompt",
    )
    assert audio.connections == (
        Connection(addrtype=AddrType.IP6, address="ff00::db8:0:101", count=3),
        Connection(addrtype=AddrType.IP6, address="ff00::db8:0:201"),
    )
    assert sd.media[1].is_rejected


@pytest.mark.parametrize("data", FIXTURES.values(), ids=FIXTURES.keys())
def test_well_formed_bodies_round_trip_byte_for_byte(data: bytes) -> None:
    sd = parse_sdp(data)
    assert sd.to_bytes() == data
    assert str(sd) == data.decode()
    assert parse_sdp(sd.to_bytes()) == sd
    assert parse_sdp(data.decode()) == sd


@pytest.mark.parametrize("data", FIXTURES.values(), ids=FIXTURES.keys())
def test_bare_lf_and_a_missing_last_line_end_are_accepted(data: bytes) -> None:
    relaxed = data.replace(b"\r\n", b"\n").removesuffix(b"\n")
    sd = parse_sdp(relaxed)
    assert sd == parse_sdp(data)
    assert sd.to_bytes() == data


def test_built_description_round_trips() -> None:
    sd = SessionDescription(
        origin=Origin(username="ringfence", sess_id="7", sess_version=1, address="192.0.2.9"),
        connection=Connection(address="192.0.2.9"),
        media=(
            MediaDescription(
                media_type="audio",
                port=30000,
                proto="RTP/AVP",
                formats=("0", "101"),
                attributes=(
                    Attribute(
                        name="rtpmap",
                        value=str(RtpMap(payload_type=0, encoding="PCMU", clock_rate=8000)),
                    ),
                    Attribute(name="sendrecv"),
                ),
            ),
        ),
    )
    assert sd.to_bytes() == body(
        "v=0",
        "o=ringfence 7 1 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 192.0.2.9",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
    )
    assert parse_sdp(sd.to_bytes()) == sd


Rewrite = Callable[[SessionDescription], SessionDescription]
NEW_CRYPTO = CryptoAttribute(
    tag=1, suite="AES_CM_128_HMAC_SHA1_80", keys=(CryptoKey(key_salt=KEY_2),)
)


@pytest.mark.parametrize(
    ("data", "rewrite", "changed", "removed", "inserted"),
    [
        pytest.param(
            BARESIP_SRTP,
            lambda sd: sd.with_connection_address("203.0.113.99"),
            {3: "c=IN IP4 203.0.113.99"},
            [],
            {},
            id="session-connection",
        ),
        pytest.param(
            IPV6_OFFER,
            lambda sd: sd.with_connection_address("2001:db8::99"),
            {3: "c=IN IP6 2001:db8::99"},
            [],
            {},
            id="ipv6-connection-inferred",
        ),
        pytest.param(
            IPV6_OFFER,
            lambda sd: sd.with_connection_address("192.0.2.99"),
            {3: "c=IN IP4 192.0.2.99"},
            [],
            {},
            id="ipv6-to-ipv4-anchor",
        ),
        pytest.param(
            RFC8866_EXAMPLE,
            lambda sd: sd.with_connection_address("192.0.2.50", addrtype=AddrType.IP4),
            {7: "c=IN IP4 192.0.2.50", 12: "c=IN IP4 192.0.2.50"},
            [],
            {},
            id="session-and-media-connections",
        ),
        pytest.param(
            VIDEO_REJECTED,
            lambda sd: sd.with_media(0, sd.media[0].with_connection_address("192.0.2.7")),
            {},
            [],
            {6: "c=IN IP4 192.0.2.7"},
            id="one-media-connection-added",
        ),
        pytest.param(
            BARESIP_SRTP,
            lambda sd: sd.with_media_port(0, 40000),
            {5: "m=audio 40000 RTP/SAVP 96 9 0 8 101"},
            [],
            {},
            id="media-port",
        ),
        pytest.param(
            VIDEO_REJECTED,
            lambda sd: sd.with_media_port(-1, 0).with_media_port(0, 0),
            {5: "m=audio 0 RTP/AVP 0"},
            [],
            {},
            id="reject-every-stream",
        ),
        pytest.param(
            BARESIP_SRTP,
            lambda sd: sd.without_crypto(),
            {},
            [17, 18],
            {},
            id="without-crypto",
        ),
        pytest.param(
            BARESIP_SRTP,
            lambda sd: sd.with_crypto(0, [NEW_CRYPTO]),
            {17: f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_2}"},
            [18],
            {},
            id="with-crypto",
        ),
        pytest.param(
            OPUS_PCMU,
            lambda sd: sd.with_origin_address("198.51.100.20").with_incremented_version(),
            {1: "o=linphone 2384 3730 IN IP4 198.51.100.20"},
            [],
            {},
            id="origin",
        ),
        pytest.param(
            OPUS_PCMU,
            lambda sd: sd.with_media(0, sd.media[0].with_direction(Direction.SENDONLY)),
            {},
            [],
            {11: "a=sendonly"},
            id="direction-appended",
        ),
        pytest.param(
            HOLD_OFFER,
            lambda sd: sd.with_media(0, sd.media[0].with_direction(Direction.SENDRECV)),
            {9: "a=sendrecv"},
            [],
            {},
            id="direction-in-place",
        ),
        pytest.param(
            OPUS_PCMU,
            lambda sd: sd.with_attribute("rtcp-xr"),
            {5: "a=rtcp-xr"},
            [],
            {},
            id="session-attribute-in-place",
        ),
        pytest.param(
            OPUS_PCMU,
            lambda sd: sd.with_media(0, sd.media[0].with_attribute("ptime", "20")),
            {},
            [],
            {11: "a=ptime:20"},
            id="media-attribute-appended",
        ),
    ],
)
def test_rewrites_touch_only_their_lines(
    data: bytes,
    rewrite: Rewrite,
    changed: dict[int, str],
    removed: list[int],
    inserted: dict[int, str],
) -> None:
    before = data.decode().split("\r\n")[:-1]
    rewritten = rewrite(parse_sdp(data))
    expected = [changed.get(i, line) for i, line in enumerate(before) if i not in removed]
    for index, line in sorted(inserted.items()):
        expected.insert(index, line)
    assert rewritten.to_bytes() == body(*expected)
    assert parse_sdp(rewritten.to_bytes()) == rewritten


def test_rewrites_return_new_objects() -> None:
    sd = parse_sdp(BARESIP_SRTP)
    assert sd.without_crypto() is not sd
    assert sd.to_bytes() == BARESIP_SRTP  # the original is unchanged
    assert not sd.without_crypto().offers_srtp()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(OPUS_PCMU, [Direction.SENDRECV], id="default-sendrecv"),
        pytest.param(HOLD_OFFER, [Direction.SENDONLY], id="media-sendonly"),
        pytest.param(BARESIP_SRTP, [Direction.SENDRECV], id="explicit-sendrecv"),
        pytest.param(
            MEDIA_LEVEL_C_ONLY,
            [Direction.SENDONLY, Direction.INACTIVE],
            id="inherited-then-overridden",
        ),
        pytest.param(
            EVERY_LINE_TYPE, [Direction.RECVONLY, Direction.RECVONLY], id="session-recvonly"
        ),
    ],
)
def test_direction_inheritance(data: bytes, expected: list[Direction]) -> None:
    sd = parse_sdp(data)
    assert [sd.direction_of(i) for i in range(len(sd.media))] == expected


def test_conflicting_directions_are_malformed() -> None:
    sd = parse_sdp(HOLD_OFFER.replace(b"a=sendonly", b"a=sendonly\r\na=recvonly"))
    with pytest.raises(ParseError, match="conflicting direction"):
        sd.direction_of(0)


@pytest.mark.parametrize(
    ("data", "index", "payload_type", "expected"),
    [
        (
            BARESIP_SRTP,
            0,
            96,
            RtpMap(payload_type=96, encoding="opus", clock_rate=48000, channels=2),
        ),
        (BARESIP_SRTP, 0, 9, RtpMap(payload_type=9, encoding="G722", clock_rate=8000)),
        (OPUS_PCMU, 0, 101, RtpMap(payload_type=101, encoding="telephone-event", clock_rate=8000)),
        # a static payload type listed without an a=rtpmap line: RFC 3551 table 4
        (OPUS_PCMU, 0, 0, RtpMap(payload_type=0, encoding="PCMU", clock_rate=8000)),
        (RFC8866_EXAMPLE, 2, 99, RtpMap(payload_type=99, encoding="h263-1998", clock_rate=90000)),
        (OPUS_PCMU, 0, 8, None),  # static, but not offered
        (VIDEO_REJECTED, 1, 31, RtpMap(payload_type=31, encoding="H261", clock_rate=90000)),
        (MEDIA_LEVEL_C_ONLY, 1, 97, None),  # dynamic, not mapped
    ],
)
def test_rtpmap(data: bytes, index: int, payload_type: int, expected: RtpMap | None) -> None:
    assert parse_sdp(data).media[index].rtpmap(payload_type) == expected


@pytest.mark.parametrize(
    "value",
    [
        "96",
        "96 opus",
        "96 opus/abc",
        "96 opus/48000/2/1",
        "300 x/8000",
        "96 opus/0",
        "96  opus/8000",
    ],
)
def test_malformed_rtpmap_raises_parse_error(value: str) -> None:
    sd = parse_sdp(OPUS_PCMU.replace(b"a=rtpmap:96 opus/48000/2", f"a=rtpmap:{value}".encode()))
    with pytest.raises(ParseError, match="rtpmap"):
        sd.media[0].rtpmap(int(value.split(" ", maxsplit=1)[0]))


def _media(proto: str, *attributes: str, port: int = 5000) -> MediaDescription:
    return MediaDescription(
        media_type="audio",
        port=port,
        proto=proto,
        formats=("0",),
        attributes=tuple(Attribute(name="crypto", value=v) for v in attributes),
    )


CRYPTO_LINE = f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}"


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (_media("RTP/SAVP", CRYPTO_LINE), True),
        (_media("RTP/SAVPF", CRYPTO_LINE), True),
        (_media("RTP/SAVP"), False),  # keyed some other way (MIKEY, ZRTP): not SDES
        (_media("RTP/AVP", CRYPTO_LINE), False),  # "best effort" SRTP is not SRTP yet
        (_media("UDP/TLS/RTP/SAVP", CRYPTO_LINE), False),  # DTLS-SRTP
        (_media("UDP/TLS/RTP/SAVPF"), False),
    ],
)
def test_is_srtp_needs_a_savp_profile_and_a_crypto_line(
    media: MediaDescription, expected: bool
) -> None:
    assert media.is_srtp is expected
    sd = SessionDescription(
        origin=Origin(sess_id="1", sess_version=1, address="192.0.2.1"),
        connection=Connection(address="192.0.2.1"),
        media=(media,),
    )
    assert sd.offers_srtp() is expected


def test_a_rejected_srtp_stream_is_not_an_srtp_offer() -> None:
    sd = SessionDescription(
        origin=Origin(sess_id="1", sess_version=1, address="192.0.2.1"),
        connection=Connection(address="192.0.2.1"),
        media=(_media("RTP/SAVP", CRYPTO_LINE, port=0), _media("RTP/AVP")),
    )
    assert sd.media[0].is_srtp
    assert not sd.offers_srtp()


B64_46 = base64.b64encode(bytes(range(46))).decode()  # AES-256 key and salt, padded "=="


@pytest.mark.parametrize(
    ("value", "tag", "suite", "keys", "params"),
    [
        (CRYPTO_LINE, 1, "AES_CM_128_HMAC_SHA1_80", [(KEY_1, None, None, None)], ()),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|2^20|1:4",
            1,
            "AES_CM_128_HMAC_SHA1_80",
            [(KEY_1, 2**20, 1, 4)],
            (),
        ),
        (
            f"2 F8_128_HMAC_SHA1_80 inline:{KEY_1}|2^20|1:4;inline:{KEY_2}|2^20|2:4"
            " FEC_ORDER=FEC_SRTP",
            2,
            "F8_128_HMAC_SHA1_80",
            [(KEY_1, 2**20, 1, 4), (KEY_2, 2**20, 2, 4)],
            ("FEC_ORDER=FEC_SRTP",),
        ),
        (
            f"3 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}|1048576 KDR=1 UNENCRYPTED_SRTCP",
            3,
            "AES_CM_128_HMAC_SHA1_32",
            [(KEY_1, 1048576, None, None)],
            ("KDR=1", "UNENCRYPTED_SRTCP"),
        ),
        (
            f"4 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|7:2",
            4,
            "AES_CM_128_HMAC_SHA1_80",
            [(KEY_1, None, 7, 2)],
            (),
        ),
        (
            f"5 AES_256_CM_HMAC_SHA1_80 inline:{B64_46}",
            5,
            "AES_256_CM_HMAC_SHA1_80",
            [(B64_46, None, None, None)],
            (),
        ),
        (
            f"6 FUTURE_SUITE inline:{KEY_1[:8]}",
            6,
            "FUTURE_SUITE",
            [(KEY_1[:8], None, None, None)],
            (),
        ),
    ],
)
def test_crypto_attribute_parse_and_format(
    value: str,
    tag: int,
    suite: str,
    keys: list[tuple[str, int | None, int | None, int | None]],
    params: tuple[str, ...],
) -> None:
    crypto = CryptoAttribute.parse(value)
    assert (crypto.tag, crypto.suite, crypto.session_params) == (tag, suite, params)
    assert [(k.key_salt, k.lifetime_packets, k.mki, k.mki_length) for k in crypto.keys] == keys
    assert str(crypto) == value
    assert CryptoAttribute.parse(str(crypto)) == crypto


def test_crypto_repr_hides_the_key() -> None:
    assert KEY_1 not in repr(CryptoAttribute.parse(CRYPTO_LINE))


def test_tabs_between_crypto_fields_are_accepted() -> None:
    assert CryptoAttribute.parse(CRYPTO_LINE.replace(" ", "\t")) == CryptoAttribute.parse(
        CRYPTO_LINE
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "needs a tag"),
        ("1 AES_CM_128_HMAC_SHA1_80", "needs a tag"),
        (f" 1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}", "needs a tag"),
        (f"01 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}", "leading zero"),
        (f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}", "9 digits"),
        (f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}", "not a number"),
        (f"1 AES-CM inline:{KEY_1}", "suite"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64", "base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:", "base64"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1[:-4]}", "30-byte"),
        (f"1 AES_CM_128_HMAC_SHA1_80 uri:{KEY_1}", "key method"),
        (f"1 AES_CM_128_HMAC_SHA1_80 {KEY_1}", "key method"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|1:4|2^20", "misplaced"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|2^20|2^20", "misplaced"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|2^99", "out of range"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|1:0", "1..128"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|1:129", "1..128"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|256:1", "does not fit"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}|x:1", "not a number"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1} KDR=\u00e9", "visible"),
    ],
)
def test_malformed_crypto_raises_parse_error(value: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        CryptoAttribute.parse(value)


def test_with_crypto_refuses_duplicate_tags() -> None:
    sd = parse_sdp(BARESIP_SRTP)
    with pytest.raises(ValueError, match="unique"):
        sd.with_crypto(0, [NEW_CRYPTO, NEW_CRYPTO])


VALID = OPUS_PCMU.decode()


def edit(old: str, new: str) -> bytes:
    assert old in VALID
    return VALID.replace(old, new, 1).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\r\n", "expected <letter>=<value>", id="blank-line"),
        pytest.param(edit("v=0", "v=1"), 'start with "v=0"', id="version-1"),
        pytest.param(edit("v=0\r\n", ""), 'start with "v=0"', id="no-version"),
        pytest.param(
            edit("o=linphone 2384 3729 IN IP4 203.0.113.5\r\n", ""), "no o= line", id="no-origin"
        ),
        pytest.param(edit("s=Talk\r\n", ""), "no s= line", id="no-session-name"),
        pytest.param(edit("t=0 0\r\n", ""), "no t= line", id="no-timing"),
        pytest.param(edit("s=Talk", "s="), "s=) is empty", id="empty-session-name"),
        pytest.param(
            edit("o=linphone 2384 3729", "o=linphone 2384"), "6 fields", id="origin-5-fields"
        ),
        pytest.param(edit("o=linphone", "o=lin phone"), "6 fields", id="origin-space-in-user"),
        pytest.param(edit("2384 3729", "2384 x3729"), "not a number", id="origin-version"),
        pytest.param(
            edit("o=linphone 2384", "o=linphone 23a4"), "not numeric", id="origin-sess-id"
        ),
        pytest.param(
            edit("IN IP4 203.0.113.5\r\ns", "IN IP6 203.0.113.5\r\ns"),
            "not an IP6",
            id="origin-addrtype",
        ),
        pytest.param(edit("m=audio 7078", "m=audio abc"), "not a number", id="port-text"),
        pytest.param(edit("m=audio 7078", "m=audio 65536"), "0..65535", id="port-too-big"),
        pytest.param(edit("m=audio 7078", "m=audio -1"), "not a number", id="port-negative"),
        pytest.param(edit("m=audio 7078", "m=audio 07078"), "leading zero", id="port-leading-zero"),
        pytest.param(edit("m=audio 7078", "m=audio 7078/0"), "positive", id="port-count-zero"),
        pytest.param(edit("RTP/AVP 96 0 101", "RTP/AVP"), "at least 4 fields", id="no-formats"),
        pytest.param(edit("m=audio 7078", "m=audio  7078"), "single spaces", id="double-space"),
        pytest.param(
            edit("RTP/AVP 96 0 101", "RTP/AVP 96 0 101 "), "single spaces", id="trailing-space"
        ),
        pytest.param(edit("RTP/AVP", "RTP//AVP"), "transport protocol", id="bad-proto"),
        pytest.param(edit("c=IN IP4 203.0.113.5\r\n", ""), "no c= line", id="no-connection"),
        pytest.param(edit("c=IN IP4", "c=IN IP5"), "AddrType", id="unknown-addrtype"),
        pytest.param(edit("c=IN IP4", "c=ATM IP4"), "NetType", id="unknown-nettype"),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 2001:db8::1"), "not an IP4", id="c-family"
        ),
        pytest.param(edit("c=IN IP4 203.0.113.5", "c=IN IP4 not_a_host"), "host name", id="c-junk"),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 233.252.0.1"), "needs a TTL", id="mcast-no-ttl"
        ),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 233.252.0.1/256"), "0..255", id="ttl-256"
        ),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 203.0.113.5/127"),
            "TTL belongs",
            id="unicast-ttl",
        ),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP6 ff00::1/127/3"), "too many", id="ip6-ttl"
        ),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 1.2.3.4/1/2/3"), "too many", id="c-parts"
        ),
        pytest.param(edit("c=IN IP4 203.0.113.5", "c=IN IP4"), "3 fields", id="c-short"),
        pytest.param(edit("t=0 0", "t=0"), "2 fields", id="t-short"),
        pytest.param(edit("t=0 0", "t=now 0"), "not a number", id="t-text"),
        pytest.param(edit("t=0 0", "t=0 0\r\nz=0 -1h"), "z= must follow r=", id="z-without-r"),
        pytest.param(
            edit("t=0 0", "t=0 0\r\nr=1 1 0\r\nz=0 -1h\r\nz=1 0"), "z= must follow r=", id="two-z"
        ),
        pytest.param(
            edit("c=IN IP4 203.0.113.5\r\nt=0 0", "c=IN IP4 203.0.113.5\r\nr=1 1 0\r\nt=0 0"),
            "r= must follow t=",
            id="r-first",
        ),
        pytest.param(edit("s=Talk", "x=1\r\ns=Talk"), "unknown line type x=", id="unknown-letter"),
        pytest.param(edit("v=0", "V=0"), "expected <letter>=<value>", id="uppercase"),
        pytest.param(
            edit("s=Talk", "s =Talk"), "expected <letter>=<value>", id="space-before-equals"
        ),
        pytest.param(edit("s=Talk", "s=Talk\r\ns=Again"), "more than one s=", id="duplicate-s"),
        pytest.param(
            edit("c=IN IP4 203.0.113.5", "c=IN IP4 203.0.113.5\r\nc=IN IP4 203.0.113.6"),
            "more than one c=",
            id="two-session-c",
        ),
        pytest.param(
            edit("s=Talk\r\nc=", "s=Talk\r\na=x\r\nc="), "c= line after a= line", id="session-order"
        ),
        pytest.param(
            edit("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/48000/2\r\nb=AS:64"),
            "b= line after a=",
            id="media-order",
        ),
        pytest.param(
            edit("a=rtcp-fb:* trr-int 1000", "a=rtcp-fb:* trr-int 1000\r\nt=0 0"),
            "t= is not allowed in a media",
            id="t-in-media",
        ),
        pytest.param(
            edit("a=rtpmap:96 opus", "i=a\r\ni=b\r\na=rtpmap:96 opus"),
            "more than one i=",
            id="two-media-i",
        ),
        pytest.param(
            edit("a=rtpmap:96 opus", "b=AS\r\na=rtpmap:96 opus"),
            "<bwtype>:<bandwidth>",
            id="bandwidth-no-colon",
        ),
        pytest.param(
            edit("a=rtpmap:96 opus", "b=AS:fast\r\na=rtpmap:96 opus"),
            "not a number",
            id="bandwidth-text",
        ),
        pytest.param(edit("a=fmtp", "a=:x\r\na=fmtp"), "attribute name", id="empty-attribute-name"),
        pytest.param(
            edit("a=fmtp", "a=bad name\r\na=fmtp"), "attribute name", id="space-in-attribute-name"
        ),
        pytest.param(edit("s=Talk", "s=Ta\rlk"), "bare CR", id="bare-cr"),
        pytest.param(edit("s=Talk", "s=Ta\x00lk"), "NUL", id="nul"),
        pytest.param(VALID.encode().replace(b"Talk", b"T\xffalk"), "UTF-8", id="bad-utf8"),
    ],
)
def test_malformed_bodies_raise_parse_error(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_sdp(data)
    assert reason in caught.value.reason
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"max_size": len(OPUS_PCMU) - 1}, "larger than"),
        ({"max_lines": OPUS_PCMU.count(b"\n") - 1}, "more than"),
    ],
)
def test_size_and_line_limits(kwargs: dict[str, int], reason: str) -> None:
    assert parse_sdp(OPUS_PCMU, max_size=len(OPUS_PCMU), max_lines=OPUS_PCMU.count(b"\n"))
    with pytest.raises(ParseError, match=reason):
        parse_sdp(OPUS_PCMU, **kwargs)
    with pytest.raises(ParseError, match=reason):
        parse_sdp(OPUS_PCMU.decode(), **kwargs)


def test_unencodable_text_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="UTF-8"):
        parse_sdp(VALID.replace("Talk", "\ud800"))


@pytest.mark.parametrize(
    "build",
    [
        lambda sd: sd.with_attribute("x", "1\r\nm=audio 9 RTP/AVP 0"),
        lambda sd: sd.with_attribute("bad name"),
        lambda sd: sd.with_media_port(0, 65536),
        lambda sd: sd.with_connection_address("not an address"),
        lambda sd: sd.with_connection_address("233.252.0.1"),  # multicast needs a TTL
        lambda sd: sd.with_origin_address("2001:db8::1", addrtype=AddrType.IP4),
        lambda sd: sd.with_media(0, sd.media[0].with_port(-1)),
    ],
)
def test_rewrites_refuse_values_that_would_break_the_body(build: Rewrite) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build(parse_sdp(OPUS_PCMU))


def test_hold_offer_connection_is_null() -> None:
    sd = parse_sdp(HOLD_OFFER)
    assert sd.connection is not None
    assert sd.connection.is_null
    assert not parse_sdp(OPUS_PCMU).connection_of(0).is_null


def _mutations() -> st.SearchStrategy[bytes]:
    """A valid body with a few bytes replaced, inserted or deleted."""
    bodies = st.sampled_from(list(FIXTURES.values()))
    interesting = st.sampled_from(list(b" =:/\r\n0123456789amcbtrzkvxIP\x00\xff"))

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(bodies))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            byte = draw(st.one_of(interesting, st.integers(0, 255)))
            match draw(st.sampled_from(["replace", "insert", "delete"])):
                case "replace":
                    data[at] = byte
                case "insert":
                    data.insert(at, byte)
                case _:
                    del data[at]
        return bytes(data)

    return mutate()


def _parses_or_refuses(data: bytes | str) -> None:
    """Any exception but ParseError fails the test; what parses must round-trip."""
    try:
        sd = parse_sdp(data)
    except ParseError:
        return
    assert parse_sdp(sd.to_bytes()) == sd


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_parse_error(data: bytes) -> None:
    _parses_or_refuses(data)
    _parses_or_refuses(b"v=0\r\n" + data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=256))
def test_random_text_only_raises_parse_error(data: str) -> None:
    _parses_or_refuses(data)


@settings(max_examples=500, deadline=None)
@given(_mutations())
def test_mutated_bodies_only_raise_parse_error(data: bytes) -> None:
    _parses_or_refuses(data)
