"""Digest authentication of phones against their tenant (RFC 3261 §22).

The realm is the tenant's domain, so credentials of tenant A can never authenticate in tenant B,
whatever the phone puts in its headers. An unknown user is checked against a dummy HA1 and
answered exactly as a wrong password is, so the answer tells an attacker nothing (issue 6 builds
the timing and ban side of this on top).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ringfence.accounts import Directory, Extension, Tenant, pin_realm
from ringfence.sip.digest import Algorithm, Credentials, DigestOutcome, DigestVerifier
from ringfence.sip.message import Request
from ringfence.sip.status import StatusCode

__all__ = ["AuthResult", "AuthVerdict", "Authenticator"]

# A well-formed HA1 that matches no password anybody knows: wrong answers cost the same.
_DUMMY_HA1 = {Algorithm.MD5: "0" * 32, Algorithm.SHA_256: "0" * 64}


class AuthVerdict(Enum):
    ACCEPTED = "accepted"
    CHALLENGE = "challenge"  # no usable credentials yet: 401/407 with a fresh nonce
    STALE = "stale"  # right password, old nonce: challenge with stale=true
    FORBIDDEN = "forbidden"  # wrong password, unknown user, replay or foreign realm


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResult:
    verdict: AuthVerdict
    extension: Extension | None = None
    reason: str = ""
    #: Response header fields to add: the challenges, for CHALLENGE and STALE.
    headers: tuple[tuple[str, str], ...] = ()
    status: StatusCode = StatusCode.OK


class Authenticator:
    """Checks Authorization (REGISTER) or Proxy-Authorization (other requests)."""

    def __init__(
        self,
        verifier: DigestVerifier,
        *,
        algorithms: tuple[Algorithm, ...] = (Algorithm.MD5,),
    ) -> None:
        self._verifier = verifier
        self._algorithms = algorithms

    def check(
        self, request: Request, tenant: Tenant, directory: Directory, now: float
    ) -> AuthResult:
        proxy = request.method != "REGISTER"
        credentials = request.proxy_authorization if proxy else request.authorization
        realm = tenant.domain
        mine = [
            c
            for c in credentials
            if c.is_digest and (c.param("realm") or "").lower() == realm.lower()
        ]
        if not mine:
            return self._challenge(realm, proxy, now, stale=False, reason="auth_required")
        creds = mine[0]
        username = creds.param("username") or ""
        extension = directory.extension(tenant.id, username)
        outcome = self._verify(creds, request.method, realm, extension, now)
        if outcome is DigestOutcome.ACCEPTED and extension is not None:
            return AuthResult(verdict=AuthVerdict.ACCEPTED, extension=extension, reason="ok")
        if outcome is DigestOutcome.STALE:
            return self._challenge(realm, proxy, now, stale=True, reason=outcome.reason)
        if outcome in (DigestOutcome.BAD_NONCE, DigestOutcome.UNSUPPORTED, DigestOutcome.MALFORMED):
            # Not our nonce (e.g. a restart changed nothing but an old client), or a scheme we
            # do not speak: a fresh challenge lets a legitimate phone recover.
            return self._challenge(realm, proxy, now, stale=False, reason=outcome.reason)
        return AuthResult(
            verdict=AuthVerdict.FORBIDDEN, reason=outcome.reason, status=StatusCode.FORBIDDEN
        )

    def carries_pin(self, request: Request, tenant: Tenant) -> bool:
        """Whether the request answers a PIN challenge (credentials in the PIN realm)."""
        return bool(_pin_credentials(request, tenant))

    def check_pin(
        self, request: Request, tenant: Tenant, extension: Extension, now: float
    ) -> AuthResult:
        """The fraud guard's step-up: Proxy-Authorization in the realm ``pin.<domain>``,
        username the extension, password its PIN. A challenge carries the PIN realm and a fresh
        one of the tenant's realm (the phone's last nonce there was single-use)."""
        realm = pin_realm(tenant.domain)
        mine = _pin_credentials(request, tenant)
        if not mine:
            return self._pin_challenge(tenant, now, stale=False, reason="pin_required")
        creds = mine[0]
        if (creds.param("username") or "") != extension.ext:
            return AuthResult(
                verdict=AuthVerdict.FORBIDDEN, reason="pin_wrong", status=StatusCode.FORBIDDEN
            )
        algorithm = creds.algorithm or Algorithm.MD5
        sha = algorithm in (Algorithm.SHA_256, Algorithm.SHA_256_SESS)
        ha1 = extension.pin_ha1_sha256 if sha else extension.pin_ha1_md5
        outcome = self._verifier.verify(creds, method=request.method, realm=realm, ha1=ha1, now=now)
        if outcome is DigestOutcome.ACCEPTED:
            return AuthResult(verdict=AuthVerdict.ACCEPTED, extension=extension, reason="pin_ok")
        if outcome in (
            DigestOutcome.STALE,
            DigestOutcome.BAD_NONCE,
            DigestOutcome.UNSUPPORTED,
            DigestOutcome.MALFORMED,
        ):
            return self._pin_challenge(
                tenant, now, stale=outcome is DigestOutcome.STALE, reason=outcome.reason
            )
        return AuthResult(
            verdict=AuthVerdict.FORBIDDEN, reason="pin_wrong", status=StatusCode.FORBIDDEN
        )

    def _pin_challenge(self, tenant: Tenant, now: float, *, stale: bool, reason: str) -> AuthResult:
        pin = self._verifier.challenge(
            realm=pin_realm(tenant.domain), now=now, algorithm=Algorithm.MD5, stale=stale
        )
        own = self._verifier.challenge(realm=tenant.domain, now=now, algorithm=Algorithm.MD5)
        return AuthResult(
            verdict=AuthVerdict.STALE if stale else AuthVerdict.CHALLENGE,
            reason=reason,
            headers=(
                ("Proxy-Authenticate", pin.to_header_value()),
                ("Proxy-Authenticate", own.to_header_value()),
            ),
            status=StatusCode.PROXY_AUTHENTICATION_REQUIRED,
        )

    def _verify(
        self, creds: Credentials, method: str, realm: str, extension: Extension | None, now: float
    ) -> DigestOutcome:
        algorithm = creds.algorithm or Algorithm.MD5
        if extension is None:
            ha1 = _DUMMY_HA1.get(algorithm, "0" * 32)
        elif algorithm in (Algorithm.SHA_256, Algorithm.SHA_256_SESS):
            ha1 = extension.ha1_sha256
        else:
            ha1 = extension.ha1_md5
        return self._verifier.verify(creds, method=method, realm=realm, ha1=ha1, now=now)

    def _challenge(
        self, realm: str, proxy: bool, now: float, *, stale: bool, reason: str
    ) -> AuthResult:
        # RFC 8760 §2.4: one challenge per algorithm, by preference. Interop: libre-based phones
        # (baresip 1.x) fail on any non-MD5 challenge even when an MD5 one is offered too, and
        # SIPp takes the first whatever its algorithm, so MD5 alone is the default; SHA-256 is
        # accepted whenever a phone answers with it, and `algorithms` can offer it.
        header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        challenges = tuple(
            (
                header,
                self._verifier.challenge(
                    realm=realm, now=now, algorithm=a, stale=stale
                ).to_header_value(),
            )
            for a in self._algorithms
        )
        status = StatusCode.PROXY_AUTHENTICATION_REQUIRED if proxy else StatusCode.UNAUTHORIZED
        verdict = AuthVerdict.STALE if stale else AuthVerdict.CHALLENGE
        return AuthResult(verdict=verdict, reason=reason, headers=challenges, status=status)


def _pin_credentials(request: Request, tenant: Tenant) -> list[Credentials]:
    realm = pin_realm(tenant.domain).lower()
    return [
        c
        for c in request.proxy_authorization
        if c.is_digest and (c.param("realm") or "").lower() == realm
    ]
