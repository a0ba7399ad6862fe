"""The two ways a notice leaves ringfence: e-mail over SMTP and a signed webhook over HTTP.

Each channel makes one attempt per call and translates every failure into a
:class:`DeliveryError` that says whether another attempt could succeed (the rules are in
:mod:`ringfence.notify.retry`). Retrying is the job of :class:`ringfence.notify.Deliverer`.
Neither the webhook secret nor the SMTP password ever appears in an error message.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import httpx
import structlog

from ringfence.errors import DeliveryError
from ringfence.notify.message import EmailTarget, Notice, WebhookTarget
from ringfence.notify.retry import (
    http_is_transient,
    retry_after_seconds,
    smtp_is_transient,
)
from ringfence.notify.signing import SIGNATURE_HEADER, sign

__all__ = ["DeliveryError", "EmailChannel", "WebhookChannel"]

USER_AGENT = "ringfence-notify"
_REDACTED = "[redacted]"


def _scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` blotted out."""
    return text.replace(secret, _REDACTED) if secret else text


def _describe(error: BaseException) -> str:
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class EmailChannel:
    """Sends a notice as a plain-text e-mail to all addresses of a target, in one SMTP session.

    ``starttls`` upgrades the connection before anything else is said; ``username`` and
    ``password`` log in when both are given. ``timeout`` bounds each network step, in seconds.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("an SMTP login needs both a username and a password, or neither")
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._starttls = starttls
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        return f"EmailChannel(host={self._host!r}, port={self._port}, sender={self._sender!r})"

    def build(self, notice: Notice, target: EmailTarget) -> EmailMessage:
        """The e-mail for ``notice``: its Date is when the notice was made, and its Message-ID
        is the same for every attempt, so that mail clients show repeats as one message."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = ", ".join(target.addresses)
        message["Subject"] = notice.subject
        message["Date"] = email.utils.formatdate(notice.created_at, usegmt=True)
        message["Message-ID"] = f"<{notice.key}@ringfence>"
        message.set_content(notice.text)
        return message

    async def send(self, notice: Notice, target: EmailTarget) -> None:
        """Make one attempt; raise :class:`DeliveryError` if it fails.

        When the server accepts some recipients and refuses others, the attempt counts as
        delivered (another attempt would mail the accepted ones twice); the refusals are logged.
        """
        try:
            message = self.build(notice, target)
        except (ValueError, TypeError) as error:
            raise DeliveryError(
                f"cannot build the e-mail: {_describe(error)}", permanent=True
            ) from None
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=self._sender,
                recipients=list(target.addresses),
                hostname=self._host,
                port=self._port,
                timeout=self._timeout,
                start_tls=self._starttls,
                username=self._username,
                password=self._password,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = sorted({refusal.code for refusal in error.recipients})
            raise DeliveryError(
                self._scrub(f"SMTP server refused every recipient (replies {codes})"),
                permanent=not any(smtp_is_transient(code) for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(
                self._scrub(f"SMTP server replied {error.code} {error.message}"),
                permanent=not smtp_is_transient(error.code),
            ) from None
        except aiosmtplib.SMTPNotSupported as error:
            raise DeliveryError(
                self._scrub(f"SMTP server lacks a needed feature: {error.message}"),
                permanent=True,
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryError(
                self._scrub(f"SMTP delivery failed: {_describe(error)}"), permanent=False
            ) from None
        if refused:
            structlog.get_logger("ringfence.notify").warning(
                "notify_recipients_refused",
                key=notice.key,
                tenant=notice.tenant,
                refused=sorted(refused),
                codes=sorted({reply.code for reply in refused.values()}),
            )

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._password)


class WebhookChannel:
    """POSTs a notice as signed JSON to a target's URL, with the caller's HTTP client.

    The body is ``payload`` with ``id`` (the notice key), ``tenant``, ``subject`` and
    ``created_at`` added; those four always hold the notice's own values, even if ``payload``
    has keys of the same names. It is serialised once, compactly and with sorted keys, and the
    signature is over exactly those bytes. Any 2xx answer means delivered. Redirects are not
    followed.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Callable[[], float],
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self._timeout = timeout

    @staticmethod
    def body(notice: Notice) -> bytes:
        """The exact bytes sent for ``notice``; raises ValueError or TypeError if its payload
        is not JSON-able."""
        document: dict[str, object] = {
            **notice.payload,
            "id": notice.key,
            "tenant": notice.tenant,
            "subject": notice.subject,
            "created_at": notice.created_at,
        }
        text = json.dumps(document, separators=(",", ":"), sort_keys=True, allow_nan=False)
        return text.encode("utf-8")

    async def send(self, notice: Notice, target: WebhookTarget) -> None:
        """Make one attempt; raise :class:`DeliveryError` if it fails. Each attempt is signed
        anew with the current time, so a retry is not refused as a replay."""
        # The secret is read from the target where it is needed and kept in no local variable,
        # so that a traceback printed with its locals cannot show it.
        try:
            content = self.body(notice)
        except (ValueError, TypeError) as error:
            raise DeliveryError(
                _scrub(f"the webhook payload is not JSON: {_describe(error)}", target.secret),
                permanent=True,
            ) from None
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notice.key,
            SIGNATURE_HEADER: sign(target.secret, int(self._clock()), content),
            "User-Agent": USER_AGENT,
        }
        try:
            response = await self._client.post(
                target.url,
                content=content,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise DeliveryError(
                _scrub(f"the webhook URL cannot be used: {type(error).__name__}", target.secret),
                permanent=True,
            ) from None
        except httpx.TimeoutException as error:
            raise DeliveryError(
                _scrub(f"the webhook timed out: {type(error).__name__}", target.secret),
                permanent=False,
            ) from None
        except httpx.HTTPError as error:
            raise DeliveryError(
                _scrub(f"the webhook request failed: {_describe(error)}", target.secret),
                permanent=False,
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        raise DeliveryError(
            _scrub(f"the webhook answered {status} {response.reason_phrase}", target.secret),
            permanent=not http_is_transient(status),
            retry_after=retry_after_seconds(status, response.headers.get("Retry-After")),
        )
