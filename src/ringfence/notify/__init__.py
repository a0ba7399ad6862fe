"""Delivery of fraud-incident notifications: e-mail over SMTP and signed webhooks.

A :class:`Notice` is sent once per incident by its caller; this package only delivers it.
:class:`EmailChannel` and :class:`WebhookChannel` each make one attempt and raise
:class:`DeliveryError` (transient or permanent) when it fails; :class:`Deliverer` retries
transient failures with the exponential backoff of a :class:`RetryPolicy`. Webhook bodies are
signed with HMAC-SHA256 in the :data:`SIGNATURE_HEADER` (:func:`sign`), which a receiver checks
with :func:`verify`.
"""

from ringfence.notify.channels import DeliveryError, EmailChannel, WebhookChannel
from ringfence.notify.deliver import Deliverer, DeliveryOutcome
from ringfence.notify.message import EmailTarget, Notice, WebhookTarget
from ringfence.notify.retry import (
    RetryPolicy,
    http_is_transient,
    retry_after_seconds,
    smtp_is_transient,
)
from ringfence.notify.signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "Deliverer",
    "DeliveryError",
    "DeliveryOutcome",
    "EmailChannel",
    "EmailTarget",
    "Notice",
    "RetryPolicy",
    "WebhookChannel",
    "WebhookTarget",
    "http_is_transient",
    "retry_after_seconds",
    "sign",
    "smtp_is_transient",
    "verify",
]
