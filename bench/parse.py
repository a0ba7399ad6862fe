"""Parser throughput: messages per second on one core, printed as one JSON object.

Run by hand: ``.venv/bin/python bench/parse.py [--seconds S] [--json-only]``. Never a timed test.

Cases: a typical INVITE with SDP and a typical softphone REGISTER with digest credentials, each
on the full parse (every known header checked) and on the lazy path (framing only, then
``top_via.branch``, ``call_id`` and ``cseq``, which is what the transaction layer reads);
and the TCP :class:`StreamFramer` cutting a stream of REGISTERs fed in 1400-byte chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from ringfence.sip.parser import Frame, StreamFramer, parse_message
from ringfence.sip.uri import forget_parsed_uris

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 9 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=rtcp-mux\r\n"
    b"a=maxptime:150\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    "INVITE sip:+442079460123@pbx.example.com;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---8c3c2e7a9b1d4f60;rport\r\n"
    "Record-Route: <sip:edge.example.com;lr;ftag=a73kszlfl>\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Alice Smith" <sip:1001@pbx.example.com>;tag=a73kszlfl\r\n'
    "To: <sip:+442079460123@pbx.example.com;user=phone>\r\n"
    "Call-ID: 3848276298220188511@192.0.2.10\r\n"
    "CSeq: 2 INVITE\r\n"
    "Contact: <sip:1001@192.0.2.10:5060;transport=udp;ob>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    "Supported: replaces, norefersub, timer\r\n"
    "User-Agent: Zoiper rv2.10.19.6\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n"
    "\r\n"
).encode() + SDP

REGISTER = (
    b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---d8f5a3c1b2e4f601;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060;rinstance=9d1b62e0a7c3f5e8;transport=udp>"
    b';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"\r\n'
    b"To: <sip:1001@pbx.example.com>\r\n"
    b"From: <sip:1001@pbx.example.com>;tag=7b3e21a4\r\n"
    b"Call-ID: YzQ1ZjA4ODk2NGNlMTBlZjM2NWIwZGQ3YjFmZTg5OTk\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Supported: replaces, norefersub, extended-refer, timer, outbound, path\r\n"
    b"User-Agent: Z 5.6.1 v2.10.19.9\r\n"
    b'Authorization: Digest username="1001",realm="pbx.example.com",'
    b'nonce="Zk3b1wAAAAB4c2hFd7mNqX0jv1bXkq8ZJ3hx",uri="sip:pbx.example.com",'
    b'response="6629fae49393a05397450978507c4ef1",cnonce="0a4f113b",nc=00000001,qop=auth,'
    b"algorithm=MD5\r\n"
    b"Allow-Events: presence, kpml, talk\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

TARGETS = {"register_lazy": 50_000, "register_full": 15_000}


def full(data: bytes) -> Callable[[], object]:
    return lambda: parse_message(data)


def full_cold(data: bytes) -> Callable[[], object]:
    """The full parse with the URI memo emptied first: every URI parsed from scratch, as for a
    phone the server has not heard from lately."""

    def run() -> object:
        forget_parsed_uris()
        return parse_message(data)

    return run


def lazy(data: bytes) -> Callable[[], object]:
    def run() -> object:
        msg = parse_message(data, lazy=True)
        return msg.top_via.branch, msg.call_id, msg.cseq

    return run


def measure(one: Callable[[], object], seconds: float, reps: int) -> dict[str, float]:
    """Calibrate a batch to ``seconds / reps``, warm up, then time ``reps`` batches."""
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            one()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / reps / 4:
            break
        batch *= 2
    batch = max(1, int(batch * (seconds / reps) / elapsed))
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(batch):
            one()
        rates.append(batch / (time.perf_counter() - start))
    return {"best": round(max(rates)), "median": round(statistics.median(rates))}


def framer_case(count: int = 200, chunk: int = 1400) -> tuple[Callable[[], object], int]:
    """One call frames ``count`` REGISTERs from a stream fed in ``chunk``-byte pieces."""
    stream = REGISTER * count
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]

    def run() -> object:
        framer = StreamFramer()
        frames = [f for piece in chunks for f in framer.feed(piece) if isinstance(f, Frame)]
        assert len(frames) == count
        assert framer.buffered == 0
        return frames

    return run, count


def pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent per case")
    parser.add_argument("--reps", type=int, default=7, help="repetitions per case")
    parser.add_argument("--json-only", action="store_true", help="print the JSON object only")
    args = parser.parse_args()
    cpu = pin_one_core()
    for data in (INVITE, REGISTER):  # a message the bench mis-parses would measure nothing
        parse_message(data)
    cases: dict[str, Callable[[], object]] = {
        "invite_full": full(INVITE),
        "invite_lazy": lazy(INVITE),
        "register_full": full(REGISTER),
        "register_lazy": lazy(REGISTER),
        "register_full_cold_uris": full_cold(REGISTER),
    }
    results: dict[str, dict[str, float]] = {}
    for name, one in cases.items():
        if not args.json_only:
            print(f"measuring {name} ...", file=sys.stderr)
        results[name] = measure(one, args.seconds, args.reps)
    run, count = framer_case()
    per_call = measure(run, args.seconds, args.reps)
    results["framer_register_1400b_chunks"] = {k: v * count for k, v in per_call.items()}
    targets = {
        name: {
            "target": target,
            "median": results[name]["median"],
            "pass": results[name]["median"] >= target,
        }
        for name, target in TARGETS.items()
    }
    report = {
        "unit": "messages/s, one core",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "pinned_cpu": cpu,
        "seconds_per_case": args.seconds,
        "reps": args.reps,
        "sizes": {"invite": len(INVITE), "invite_sdp": len(SDP), "register": len(REGISTER)},
        "results": results,
        "targets": targets,
        "pass": all(t["pass"] for t in targets.values()),
    }
    print(json.dumps(report, indent=None if args.json_only else 2))


if __name__ == "__main__":
    main()
