"""The RFC 4475 torture messages sent to the running service over UDP, each answered as the RFC
names (or dropped, where it says so).

The messages address ``example.com``; a tenant with that domain exists, so the valid ones reach
the router and are challenged like any request from an unauthenticated phone.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[1] / "sip" / "corpus" / "rfc4475"

# name -> the status the service answers with (None: dropped, no answer at all)
EXPECTED: dict[str, int | None] = {
    # §3.1.1 valid requests: challenged (they carry no credentials) or answered
    "wsinv": 481,  # it carries a To tag: an in-dialog request for a dialog that does not exist
    # From a domain that is no tenant of ours: challenged like any other (which domains are
    # hosted is not told from outside), refused 403 only once credentials come.
    "esc01": 407,
    "escnull": 401,
    "lwsdisp": 200,  # OPTIONS is answered by the server itself
    "longreq": 407,  # From example.net
    "dblreq": 401,
    "semiuri": 200,
    "transports": 200,
    "inv2543": 407,  # From ift.client.example.net
    # §3.1.1 responses that match no transaction: dropped
    "unreason": None,
    "noreason": None,
    # §3.1.2 invalid: 400 (505 for the version, 501 for an unknown method), responses dropped
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "scalarlg": None,
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "regbadct": 400,
    "badaspec": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 501,
    "bigcode": None,
    # §3.2: an RFC 2543-style branch is still answered
    "badbranch": 200,
    # §3.3 application layer: the responses RFC 4475 names
    "insuf": 400,
    "unkscm": 416,
    "novelsc": 416,
    "unksm2": 400,
    "bext01": 420,
    "invut": 415,
    "regaut01": 401,
    "multi01": 400,
    "mcl01": 400,
    "bcast": None,
    "zeromf": 483,
    "cparam01": 401,
    "cparam02": 401,
    "regescrt": 401,
    "sdp01": 406,
}


@pytest.fixture(scope="module")
def torture_service(tmp_path_factory: pytest.TempPathFactory, toolkit: Any) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("torture")
    data_dir = base / "data"
    toolkit.run_cli(data_dir, "init")
    toolkit.run_cli(data_dir, "tenant", "add", "torture", "--domain", "example.com")
    toolkit.run_cli(data_dir, "ext", "add", "torture", "2000", "--password", "Wq7-correct-horse")
    service = toolkit.service(data_dir, base)
    service.start()
    yield service
    service.stop_cleanly()


def exchange(service: Any, data: bytes, timeout: float) -> bytes | None:
    """Send one datagram; return the final response (provisional ones are skipped)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(data, (service.host, service.sip_port))
        while True:
            try:
                answer, _ = sock.recvfrom(65535)
            except TimeoutError:
                return None
            if not answer.startswith(b"SIP/2.0 1"):
                return answer


@pytest.mark.parametrize(("name", "status"), EXPECTED.items())
def test_torture_message_gets_the_rfc_answer(
    torture_service: Any, name: str, status: int | None
) -> None:
    data = (CORPUS / f"{name}.dat").read_bytes()
    if name != "badbranch":
        # Several corpus messages share a branch and sent-by (they were written one by one);
        # sent together they would rightly match each other's transactions as retransmissions.
        data = data.replace(b"branch=z9hG4bK", b"branch=z9hG4bK" + name.encode() + b"-")
    answer = exchange(torture_service, data, timeout=1.0 if status is None else 3.0)
    if status is None:
        assert answer is None, answer
        return
    assert answer is not None, f"{name}: no answer"
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith(f"SIP/2.0 {status} "), f"{name}: {status_line}"
    # The service never crashed on the way: it still answers a plain OPTIONS.
    ping = (
        b"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKping"
        + name.encode()
        + b"\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: ping-"
        + name.encode()
        + b"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    pong = exchange(torture_service, ping, timeout=3.0)
    assert pong is not None
    assert pong.startswith(b"SIP/2.0 200 ")
