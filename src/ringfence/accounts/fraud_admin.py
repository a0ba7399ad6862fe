"""Admin actions of the toll-fraud guard: incidents and their release, security contacts, the
signed webhook, and extension PINs.

Each action runs in one unit of work with its audit entry and the revision bump, so a release
reaches every node within a second. Secrets (the webhook's key, a PIN) are never written to the
audit log, only the fact that they changed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ringfence.accounts.service import AuditedService, find_extension, find_tenant
from ringfence.errors import Conflict, InvalidInput
from ringfence.fraud.incidents import Incident
from ringfence.sip.digest import Algorithm, compute_ha1

__all__ = ["FraudService", "check_email", "check_pin", "pin_realm"]

_EMAIL = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}")
_PIN = re.compile(r"[0-9]{4,12}")


def pin_realm(domain: str) -> str:
    """The digest realm a PIN is asked for in: distinct from the tenant's, so a phone knows
    to ask its user instead of answering with the SIP password."""
    return f"pin.{domain}"


def check_email(text: str) -> str:
    value = text.strip()
    if not _EMAIL.fullmatch(value):
        raise InvalidInput(f"{text!r} is not an e-mail address (write it as name@example.com)")
    return value.lower()


def check_pin(text: str) -> str:
    if not _PIN.fullmatch(text):
        raise InvalidInput("a PIN is 4 to 12 digits")
    return text


def _check_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(f"{text!r} is not an http(s) URL (write it as https://host/path)")
    return text.strip()


class FraudService(AuditedService):
    """What an admin does about fraud: see incidents, release holds, set who hears of them."""

    def incidents(self, tenant: str | None = None, *, open_only: bool = False) -> list[Incident]:
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant).id if tenant is not None else None
            return uow.incidents(owner, open_only=open_only)

    def release(self, tenant: str, ext: str | None = None) -> list[Incident]:
        """Close the open incidents of the extension (or the whole tenant) and lift their PIN
        and containment holds; international calls work again within a second."""
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            if ext is not None:
                find_extension(uow, owner, ext)
            released = uow.release(owner.id, ext, by=self._actor, at=self._clock())
            self._audit(
                uow,
                "fraud.release",
                owner.id,
                f"ext {ext}" if ext else "tenant",
                detail=", ".join(f"incident {i.id}" for i in released) or "no open incident",
            )
        return released

    def contacts(self, tenant: str) -> list[str]:
        with self._store.unit_of_work() as uow:
            return uow.contacts(find_tenant(uow, tenant).id)

    def add_contact(self, tenant: str, email: str) -> None:
        address = check_email(email)
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            if address in uow.contacts(owner.id):
                raise Conflict(f"{address} is already a security contact of {tenant}")
            uow.add_contact(owner.id, address)
            self._audit(uow, "contact.add", owner.id, address)

    def remove_contact(self, tenant: str, email: str) -> None:
        address = check_email(email)
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            uow.remove_contact(owner.id, address)
            self._audit(uow, "contact.remove", owner.id, address)

    def webhook(self, tenant: str) -> str | None:
        """The tenant's webhook URL (its secret is never shown again)."""
        with self._store.unit_of_work() as uow:
            hook = uow.webhook(find_tenant(uow, tenant).id)
        return hook[0] if hook else None

    def set_webhook(self, tenant: str, url: str | None, secret: str | None = None) -> None:
        """Set the signed webhook (``url`` None removes it). The secret signs each delivery
        with HMAC-SHA256; it must be at least 16 characters."""
        if url is not None:
            url = _check_url(url)
            if secret is None or len(secret) < 16:
                raise InvalidInput("--secret must be at least 16 characters")
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            old = uow.webhook(owner.id)
            uow.set_webhook(owner.id, url, secret)
            self._audit(
                uow,
                "webhook.set" if url else "webhook.remove",
                owner.id,
                url or "webhook",
                old=old[0] if old else None,
                new=url,
                detail="secret changed" if url else "",
            )

    def resets_password_on_contain(self, tenant: str) -> bool:
        """Whether containing one of the tenant's extensions also resets its SIP password."""
        with self._store.unit_of_work() as uow:
            return uow.reset_password_on_contain(find_tenant(uow, tenant).id)

    def set_reset_password_on_contain(self, tenant: str, on: bool) -> None:
        """Have a containment also reset the contained extension's SIP password (to one
        nobody is told) and drop its registrations, or not (the default)."""
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            old = uow.reset_password_on_contain(owner.id)
            uow.set_reset_password_on_contain(owner.id, on)
            self._audit(
                uow,
                "fraud.settings",
                owner.id,
                "reset_password_on_contain",
                old=str(old).lower(),
                new=str(on).lower(),
            )

    def set_pin(self, tenant: str, ext: str, pin: str | None) -> None:
        """Set (or, with ``None``, remove) the extension's PIN, kept as digest HA1 values for
        its PIN realm only."""
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            find_extension(uow, owner, ext)
            if pin is None:
                uow.set_pin(owner.id, ext, ha1_md5=None, ha1_sha256=None)
            else:
                realm = pin_realm(owner.domain)
                value = check_pin(pin)
                uow.set_pin(
                    owner.id,
                    ext,
                    ha1_md5=compute_ha1(
                        username=ext, realm=realm, password=value, algorithm=Algorithm.MD5
                    ),
                    ha1_sha256=compute_ha1(
                        username=ext, realm=realm, password=value, algorithm=Algorithm.SHA_256
                    ),
                )
            self._audit(uow, "pin.set" if pin else "pin.remove", owner.id, f"ext {ext}")
