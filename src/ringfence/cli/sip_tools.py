"""SIP tools that need no data directory: ``parse`` and ``demo``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ringfence.cli.common import app
from ringfence.errors import ParseError
from ringfence.sip.digest import Algorithm, build_credentials, compute_ha1
from ringfence.sip.message import Request, Response
from ringfence.sip.parser import parse_message, response_for_parse_error

__all__ = ["demo", "parse"]

_SAMPLE_INVITE = (
    b"INVITE sip:+442079460000@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Reception" <sip:1001@pbx.example.com>;tag=9fxced76sl\r\n'
    b"To: <sip:+442079460000@pbx.example.com>\r\n"
    b"Call-ID: 3848276298220188511@198.51.100.7\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:1001@198.51.100.7:5060;transport=udp>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _summary(message: Request | Response) -> dict[str, Any]:
    """The fields an operator looks at first, as plain data."""
    out: dict[str, Any] = {}
    if isinstance(message, Request):
        out["method"] = message.method
        out["request_uri"] = message.request_uri
    else:
        out["status"] = message.status
        out["reason"] = message.reason
    out["call_id"] = message.call_id
    out["cseq"] = str(message.cseq)
    out["from"] = str(message.from_)
    out["to"] = str(message.to)
    out["via"] = [str(v) for v in message.via]
    out["contacts"] = [str(c) for c in message.contacts]
    out["max_forwards"] = message.max_forwards
    out["content_type"] = None if message.content_type is None else str(message.content_type)
    out["body_bytes"] = len(message.body)
    return out


@app.command(rich_help_panel="SIP tools")
def parse(
    file: Annotated[
        Path | None, typer.Argument(help="a file holding one SIP message; stdin when left out")
    ] = None,
    *,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Parse a captured SIP message and print its fields, or say exactly what is wrong."""
    try:
        data = file.read_bytes() if file is not None else sys.stdin.buffer.read()
    except OSError as error:
        typer.echo(f"cannot read {file}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        message = parse_message(data)
    except ParseError as error:
        answer = response_for_parse_error(error, to_tag="x")
        result = {
            "valid": False,
            "reason": error.reason,
            "status": error.status,
            "answerable": answer is not None,
        }
        if as_json:
            typer.echo(json.dumps(result))
        else:
            typer.echo(
                f"invalid SIP message: {error.reason} (a server answers {error.status})"
                if answer
                else f"invalid SIP message: {error.reason} (dropped unanswered)"
            )
        raise typer.Exit(1) from None
    summary = {"valid": True, **_summary(message)}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    Console().print(table)


@app.command(rich_help_panel="SIP tools")
def demo() -> None:
    """Show the SIP core at work: parsing, a malformed message and a digest exchange."""
    # The composition root imports the whole service: only this command needs it.
    from ringfence.app import SystemSources, build_digest_verifier  # noqa: PLC0415

    console = Console()
    sources = SystemSources()
    console.rule("[bold]ringfence SIP core")
    message = parse_message(_SAMPLE_INVITE)
    table = Table(title="A parsed INVITE", show_header=False)
    for key, value in _summary(message).items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)

    broken = _SAMPLE_INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE")
    try:
        parse_message(broken)
    except ParseError as error:
        answer = response_for_parse_error(error, to_tag=sources.token(), warn_agent="ringfence")
        console.print(f"A malformed INVITE is refused: [red]{error.reason}[/red]")
        if answer is not None:
            console.print(f"  answer: {answer.start_line()}, {answer.headers.get('Warning')}")

    verifier = build_digest_verifier(sources.random_bytes(32), sources)
    realm = "pbx.example.com"
    ha1 = compute_ha1(
        username="1001", realm=realm, password=sources.token(), algorithm=Algorithm.SHA_256
    )
    now = sources.now()
    challenge = verifier.challenge(realm=realm, now=now, algorithm=Algorithm.SHA_256)
    console.print(f"Challenge: WWW-Authenticate: {challenge.to_header_value()}")
    credentials = build_credentials(
        challenge=challenge,
        method="REGISTER",
        uri=f"sip:{realm}",
        username="1001",
        ha1=ha1,
        cnonce=sources.token(),
        nc=1,
    )
    first = verifier.verify(credentials, method="REGISTER", realm=realm, ha1=ha1, now=now)
    again = verifier.verify(credentials, method="REGISTER", realm=realm, ha1=ha1, now=now)
    console.print(f"First REGISTER with those credentials: [green]{first.reason}[/green]")
    console.print(f"The same (nonce, nc) again: [red]{again.reason}[/red]")
    console.print(
        "The full service arrives with the phone-service issue; run ./dev test for the suite."
    )
