"""The channels against real servers on loopback: aiosmtpd for SMTP and a small HTTP/1.1
receiver for webhooks. Retries run in virtual time: the Deliverer's sleep only records."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller

from ringfence.notify import (
    SIGNATURE_HEADER,
    Deliverer,
    DeliveryError,
    DeliveryOutcome,
    EmailChannel,
    EmailTarget,
    Notice,
    RetryPolicy,
    WebhookChannel,
    WebhookTarget,
    verify,
)

LOOPBACK = "127.0.0.1"
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
SECRET = "s3cret-whsec-7d1f"
NOTICE = Notice(
    key="incident-42",
    tenant="acme",
    subject="Toll fraud suspected on extension 201",
    text="Extension 201 placed 14 international calls in 3 minutes.\nIt has been blocked.\n",
    payload={"incident": 42, "extension": "201", "calls": 14, "destinations": ["+882", "+881"]},
    created_at=T0 - 30,
)


def free_port() -> int:
    """A port on loopback that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


# SMTP


class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or refuses as told."""

    def __init__(self, *, rcpt_reply: dict[str, str] | None = None, data_reply: str = "") -> None:
        self.rcpt_reply = rcpt_reply or {}
        self.data_reply = data_reply
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(  # the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.rcpt_reply:
            return self.rcpt_reply[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # the name aiosmtpd calls
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def email_channel(port: int) -> EmailChannel:
    return EmailChannel(host=LOOPBACK, port=port, sender="alerts@ringfence.test", timeout=5.0)


CONTACTS = EmailTarget(addresses=("secops@acme.test", "cto@acme.test"))


def test_an_email_arrives_with_its_recipients_subject_message_id_and_body(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    asyncio.run(email_channel(port).send(NOTICE, CONTACTS))

    [(mail_from, recipients, content)] = mailbox.received
    assert mail_from == "alerts@ringfence.test"
    assert recipients == ["secops@acme.test", "cto@acme.test"]
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == NOTICE.subject
    assert message["Message-ID"] == "<incident-42@ringfence>"
    assert message["From"] == "alerts@ringfence.test"
    assert message["To"] == "secops@acme.test, cto@acme.test"
    assert message["Date"].datetime.timestamp() == NOTICE.created_at  # 07:59:30 UTC
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == NOTICE.text  # CRLF on the wire


def test_a_451_is_a_transient_error(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.data_reply = "451 4.3.0 Try again later"
    with pytest.raises(DeliveryError, match="451") as caught:
        asyncio.run(email_channel(port).send(NOTICE, CONTACTS))
    assert caught.value.permanent is False
    assert mailbox.received == []


def test_a_550_for_every_recipient_is_a_permanent_error(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.rcpt_reply = dict.fromkeys(CONTACTS.addresses, "550 5.1.1 No such user")
    with pytest.raises(DeliveryError, match="550") as caught:
        asyncio.run(email_channel(port).send(NOTICE, CONTACTS))
    assert caught.value.permanent is True


def test_a_550_on_data_is_a_permanent_error(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.data_reply = "550 5.7.1 Message rejected as spam"
    with pytest.raises(DeliveryError, match="550") as caught:
        asyncio.run(email_channel(port).send(NOTICE, CONTACTS))
    assert caught.value.permanent is True


def test_one_refused_recipient_of_two_still_delivers_and_is_logged(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    mailbox.rcpt_reply = {"cto@acme.test": "550 5.1.1 No such user"}
    with structlog.testing.capture_logs() as logs:
        asyncio.run(email_channel(port).send(NOTICE, CONTACTS))
    assert [recipients for _, recipients, _ in mailbox.received] == [["secops@acme.test"]]
    [line] = logs
    assert line["event"] == "notify_recipients_refused"
    assert line["refused"] == ["cto@acme.test"]
    assert line["codes"] == [550]


def test_a_closed_port_is_a_transient_error() -> None:
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(email_channel(free_port()).send(NOTICE, CONTACTS))
    assert caught.value.permanent is False


def test_the_deliverer_retries_a_451_until_the_server_takes_the_mail(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    mailbox.data_reply = "451 4.3.0 Try again later"
    channel = email_channel(port)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            mailbox.data_reply = ""  # the server recovers during the second wait

    deliverer = Deliverer(policy=RetryPolicy(), sleep=sleep, rand=lambda: 0.5)
    outcome = asyncio.run(deliverer.deliver(lambda: channel.send(NOTICE, CONTACTS)))
    assert outcome == DeliveryOutcome(delivered=True, attempts=3, error=None)
    assert slept == [2.0, 4.0]
    assert len(mailbox.received) == 1


def test_the_smtp_password_stays_out_of_repr() -> None:
    channel = EmailChannel(
        host=LOOPBACK, port=25, sender="a@b.test", username="alerts", password="pw-9f8e7d"
    )
    assert "pw-9f8e7d" not in repr(channel)


# Webhooks


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True, kw_only=True)
class Receiver:
    """An HTTP/1.1 server on loopback that records each request and answers with the next
    programmed (status, reason, headers); 200 once the program runs out."""

    program: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ")
                headers = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append(
                    Received(method=method, target=target, headers=headers, body=body)
                )
                status, reason, extra = self.program.pop(0) if self.program else (200, "OK", {})
                lines_out = [f"HTTP/1.1 {status} {reason}", "Content-Length: 0"]
                lines_out += [f"{name}: {value}" for name, value in extra.items()]
                writer.write(("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1"))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()


async def exchange(
    receiver: Receiver,
    target: WebhookTarget | None = None,
    *,
    policy: RetryPolicy | None = None,
) -> tuple[DeliveryOutcome, list[float]]:
    """Deliver NOTICE to the receiver (listening for the duration) through the Deliverer."""
    server = await asyncio.start_server(receiver.handle, LOOPBACK, 0)
    receiver.port = server.sockets[0].getsockname()[1]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    try:
        async with httpx.AsyncClient() as client:
            channel = WebhookChannel(client=client, clock=lambda: T0 + len(slept), timeout=5.0)
            target = target or WebhookTarget(
                url=f"http://{LOOPBACK}:{receiver.port}/hooks/fraud", secret=SECRET
            )
            deliverer = Deliverer(policy=policy or RetryPolicy(), sleep=sleep, rand=lambda: 0.5)
            outcome = await deliverer.deliver(
                lambda: channel.send(NOTICE, target), key=NOTICE.key, channel="webhook"
            )
    finally:
        server.close()
        await server.wait_closed()
    return outcome, slept


def test_a_webhook_carries_the_notice_signed() -> None:
    receiver = Receiver()
    outcome, slept = asyncio.run(exchange(receiver))

    assert outcome == DeliveryOutcome(delivered=True, attempts=1, error=None)
    assert slept == []
    [request] = receiver.received
    assert request.method == "POST"
    assert request.target == "/hooks/fraud"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "incident-42"
    assert request.headers["user-agent"] == "ringfence-notify"
    assert json.loads(request.body) == {
        "id": "incident-42",
        "tenant": "acme",
        "subject": NOTICE.subject,
        "created_at": T0 - 30,
        "incident": 42,
        "extension": "201",
        "calls": 14,
        "destinations": ["+882", "+881"],
    }
    assert request.body.startswith(b'{"calls":14,"created_at":')  # compact, keys sorted
    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith(f"t={int(T0)},v1=")
    assert verify(SECRET, signature, request.body, now=T0 + 2)
    assert not verify("another-secret", signature, request.body, now=T0 + 2)
    assert SECRET not in request.body.decode() + json.dumps(request.headers)


def test_the_payload_cannot_override_the_notice_fields() -> None:
    notice = Notice(
        key="incident-43",
        tenant="acme",
        subject="s",
        text="t",
        payload={"id": "forged", "tenant": "other", "extra": True},
        created_at=T0,
    )
    body = json.loads(WebhookChannel.body(notice))
    assert (body["id"], body["tenant"], body["extra"]) == ("incident-43", "acme", True)


def test_500_500_200_is_delivered_on_the_third_attempt() -> None:
    receiver = Receiver(
        program=[(500, "Internal Server Error", {}), (500, "Internal Server Error", {})]
    )
    outcome, slept = asyncio.run(exchange(receiver))

    assert outcome == DeliveryOutcome(delivered=True, attempts=3, error=None)
    assert slept == [2.0, 4.0]
    assert len(receiver.received) == 3
    assert {r.headers["idempotency-key"] for r in receiver.received} == {"incident-42"}
    assert len({r.body for r in receiver.received}) == 1
    # Each attempt is signed afresh with the time it is made (the clock moves with the waits).
    stamps = [r.headers[SIGNATURE_HEADER.lower()].split(",")[0] for r in receiver.received]
    assert stamps == [f"t={int(T0)}", f"t={int(T0) + 1}", f"t={int(T0) + 2}"]


def test_a_400_is_not_retried() -> None:
    receiver = Receiver(program=[(400, "Bad Request", {})])
    outcome, slept = asyncio.run(exchange(receiver))

    assert outcome.delivered is False
    assert outcome.attempts == 1
    assert outcome.error is not None
    assert "400" in outcome.error
    assert slept == []
    assert len(receiver.received) == 1


def test_a_429_with_retry_after_waits_at_least_that_long() -> None:
    receiver = Receiver(program=[(429, "Too Many Requests", {"Retry-After": "7"})])
    outcome, slept = asyncio.run(exchange(receiver))

    assert outcome == DeliveryOutcome(delivered=True, attempts=2, error=None)
    assert len(slept) == 1
    assert slept[0] >= 7
    assert len(receiver.received) == 2


def test_a_408_and_a_503_are_retried() -> None:
    receiver = Receiver(
        program=[(408, "Request Timeout", {}), (503, "Service Unavailable", {"Retry-After": "60"})]
    )
    outcome, slept = asyncio.run(exchange(receiver))
    assert outcome == DeliveryOutcome(delivered=True, attempts=3, error=None)
    assert slept == [2.0, 60.0]


def test_a_redirect_is_not_followed() -> None:
    receiver = Receiver(program=[(302, "Found", {"Location": "/elsewhere"})])
    outcome, slept = asyncio.run(exchange(receiver))

    assert outcome.delivered is False
    assert outcome.attempts == 1
    assert [r.target for r in receiver.received] == ["/hooks/fraud"]
    assert slept == []


def test_a_closed_port_is_retried_until_the_policy_gives_up() -> None:
    target = WebhookTarget(url=f"http://{LOOPBACK}:{free_port()}/hook", secret=SECRET)
    outcome, slept = asyncio.run(exchange(Receiver(), target, policy=RetryPolicy(max_attempts=3)))
    assert outcome.delivered is False
    assert outcome.attempts == 3
    assert slept == [2.0, 4.0]


def test_a_url_that_cannot_be_used_is_permanent() -> None:
    async def attempt() -> None:
        async with httpx.AsyncClient() as client:
            channel = WebhookChannel(client=client, clock=lambda: T0)
            await channel.send(NOTICE, WebhookTarget(url="http://", secret=SECRET))

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(attempt())
    assert caught.value.permanent is True


def test_a_payload_that_is_not_json_is_permanent() -> None:
    notice = Notice(
        key="incident-44", tenant="acme", subject="s", text="t", payload={"x": {1, 2}},
        created_at=T0,
    )  # fmt: skip

    async def attempt() -> None:
        async with httpx.AsyncClient() as client:
            channel = WebhookChannel(client=client, clock=lambda: T0)
            await channel.send(notice, WebhookTarget(url="http://x.test/", secret=SECRET))

    with pytest.raises(DeliveryError, match="not JSON") as caught:
        asyncio.run(attempt())
    assert caught.value.permanent is True


# Secrets


def test_the_secret_stays_out_of_the_targets_repr() -> None:
    target = WebhookTarget(url="https://hooks.acme.test/fraud", secret="s3cret")
    assert "s3cret" not in repr(target)
    assert "hooks.acme.test" in repr(target)


def test_the_secret_stays_out_of_the_logs_and_errors_of_a_failed_delivery() -> None:
    # The receiver fails every attempt, the last time echoing the secret in its reason phrase.
    receiver = Receiver(
        program=[
            (500, "Internal Server Error", {}),
            (503, "Service Unavailable", {"Retry-After": "3"}),
            (401, f"Unauthorized {SECRET}", {}),
        ]
    )
    with structlog.testing.capture_logs() as logs:
        outcome, _ = asyncio.run(exchange(receiver))

    assert outcome.delivered is False
    assert outcome.attempts == 3
    assert [line["event"] for line in logs] == ["notify_retry", "notify_retry", "notify_failed"]
    assert all(line["key"] == "incident-42" for line in logs)
    assert all(line["channel"] == "webhook" for line in logs)
    assert logs[-1]["error"] == "the webhook answered 401 Unauthorized [redacted]"
    captured = repr(logs) + str(outcome)
    assert SECRET not in captured
    body = receiver.received[0].body.decode()
    assert body not in captured  # nor the body
