"""SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760), sans-I/O.

* :func:`parse_credentials` reads an Authorization or Proxy-Authorization value of any scheme,
  so that an unknown scheme can be challenged instead of refused with a 400;
  :func:`parse_challenge` reads a Digest WWW-Authenticate or Proxy-Authenticate value.
  Both raise only :class:`ParseError`.
* :class:`NonceFactory` makes stateless nonces: HMAC-SHA256 over issue time, salt and realm.
  Pass wall-clock ``now`` if nonces must survive a restart or be checked by another node.
* :class:`ReplayTracker` remembers used (nonce, nc) pairs in bounded memory (see its docstring
  for the *floor* that keeps forgetting safe). It is per process.
* :class:`DigestVerifier` issues challenges and returns a :class:`DigestOutcome`. It works from
  the stored HA1 (:func:`compute_ha1`) and never sees a password. The caller looks the HA1 up
  by ``credentials.username`` and ``credentials.algorithm``; for an unknown user it passes a
  dummy HA1, so that the answer (WRONG_RESPONSE) and its cost match a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

from ringfence.errors import ParseError
from ringfence.sip.nonce import NonceFactory, NonceStatus, ReplayTracker, ReplayVerdict

__all__ = [
    "Algorithm",
    "Challenge",
    "Credentials",
    "DigestOutcome",
    "DigestVerifier",
    "build_credentials",
    "compute_ha1",
    "parse_challenge",
    "parse_credentials",
]

MAX_VALUE_LENGTH = 4096
MAX_PARAMS = 32

# RFC 7230 tchar, a superset of the RFC 3261 §25.1 token, so that both parse.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# The inside of a quoted string, written as an unrolled loop, which the re engine runs fast.
_QUOTED_BODY = r'[^"\\]*(?:\\.[^"\\]*)*'
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SCHEME_RE = re.compile(rf"({_TOKEN})[ \t]+")
_PARAM_RE = re.compile(
    rf'({_TOKEN})[ \t]*=[ \t]*(?:"({_QUOTED_BODY})"|({_TOKEN}))[ \t]*(?:,[ \t]*|\Z)', re.DOTALL
)
_OPEN_QUOTE_RE = re.compile(rf'{_TOKEN}[ \t]*=[ \t]*"(?:[^"\\]|\\.)*\\?\Z', re.DOTALL)
_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_FORBIDDEN_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_NC_RE = re.compile(r"(?!0{8})[0-9A-Fa-f]{8}")  # 8LHEX, and counting starts at 1
_HEX_RE = re.compile(r"[0-9a-f]+")
# Digest credential parameters sent as tokens; the others are quoted (RFC 7616 §3.4).
_TOKEN_PARAMS = frozenset({"algorithm", "qop", "nc", "stale", "userhash"})


class Algorithm(Enum):
    """Digest algorithms (RFC 7616 §6.1 registry; SHA-256 and SHA-512-256 for SIP: RFC 8760).

    SHA-512-256 needs ``sha512_256`` in hashlib (OpenSSL 1.1.1+); where it is missing,
    :attr:`is_available` is false and :class:`DigestVerifier` answers UNSUPPORTED.
    """

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA_256 = "SHA-256"
    SHA_256_SESS = "SHA-256-sess"
    SHA_512_256 = "SHA-512-256"
    SHA_512_256_SESS = "SHA-512-256-sess"

    @classmethod
    def from_token(cls, token: str | None) -> Algorithm | None:
        """Read an ``algorithm`` value, case-insensitively; ``None`` when it is unknown."""
        # RFC 7616 §3.3: "If this is not present, it is assumed to be "MD5"."
        wanted = "md5" if token is None else token.lower()
        return _ALGORITHMS_BY_TOKEN.get(wanted)

    @property
    def is_session(self) -> bool:
        return self.value.endswith("-sess")

    @property
    def hash_name(self) -> str:
        base = self.value.removesuffix("-sess")
        return {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[base]

    @property
    def is_available(self) -> bool:
        return self.hash_name in hashlib.algorithms_available

    @property
    def hex_length(self) -> int:
        return 32 if self.hash_name == "md5" else 64


#: Algorithm tokens in lower case, for the lookup every parsed credential makes.
_ALGORITHMS_BY_TOKEN = {member.value.lower(): member for member in Algorithm}


def _h(algorithm: Algorithm, data: str) -> str:
    return hashlib.new(algorithm.hash_name, data.encode("utf-8", "surrogatepass")).hexdigest()


def compute_ha1(*, username: str, realm: str, password: str, algorithm: Algorithm) -> str:
    """``H(username ":" realm ":" password)``: what to store instead of the password.

    A ``-sess`` algorithm stores the same base value and derives its session key per request.
    Store one HA1 per algorithm that the account may use.
    """
    return _h(algorithm, f"{username}:{realm}:{password}")


def _response(
    algorithm: Algorithm, ha1: str, nonce: str, a2: str, qop: tuple[str, str, str] | None
) -> str:
    """The request-digest. ``a2`` is ``method ":" uri``; ``qop`` is (nc, cnonce, qop-value)."""
    # RFC 7616 §3.4.3: "A2 = Method ":" request-uri"
    ha2 = _h(algorithm, a2)
    if qop is None:  # RFC 2069 compatibility
        # RFC 2617 §3.2.2.1: "KD ( H(A1), unq(nonce-value) ":" H(A2) )"
        return _h(algorithm, f"{ha1.lower()}:{nonce}:{ha2}")
    nc, cnonce, qop_value = qop
    key = ha1.lower()
    if algorithm.is_session:
        # RFC 2617 §3.2.2.2: "A1 = H( unq(username-value) ":" unq(realm-value) ":" passwd )
        # ":" unq(nonce-value) ":" unq(cnonce-value)"
        key = _h(algorithm, f"{key}:{nonce}:{cnonce}")
    # RFC 7616 §3.4.1: "KD ( H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":" H(A2) )"
    return _h(algorithm, f"{key}:{nonce}:{nc}:{cnonce}:{qop_value}:{ha2}")


# --- header values ---------------------------------------------------------------------------


def _parse_auth(value: str, what: str) -> tuple[str, tuple[tuple[str, str], ...], str | None]:
    """Split ``auth-scheme LWS auth-param *(COMMA auth-param)``, or ``auth-scheme token68``.

    Line folding and LWS around ``=`` and ``,`` are accepted. Control characters are refused
    anywhere, even escaped: nothing legitimate sends them and they only serve injection.
    """
    if len(value) > MAX_VALUE_LENGTH:
        raise ParseError(f"{what} is longer than {MAX_VALUE_LENGTH} characters")
    text = (_FOLD_RE.sub(" ", value) if "\n" in value else value).strip(" \t")
    if not text:
        raise ParseError(f"{what} is empty")
    if not text.isprintable() and _FORBIDDEN_RE.search(text):
        raise ParseError(f"{what} contains a control character")
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None:
        raise ParseError(f"{what} is not an auth-scheme followed by parameters")
    scheme, pos = scheme_match.group(1), scheme_match.end()
    if scheme.lower() != "digest" and _TOKEN68_RE.fullmatch(text, pos):
        return scheme, (), text[pos:]  # RFC 7235 §2.1 token68, as Basic and Bearer send
    # Fast path: one regular-expression pass whose matches must tile the rest of the value.
    fast: list[tuple[str, str]] = []
    fast_names: set[str] = set()
    expected = pos
    for found in _PARAM_RE.finditer(text, pos):
        name, quoted, token = found.groups()
        lowered = name.lower()
        if found.start() != expected or lowered in fast_names:
            break
        fast_names.add(lowered)
        fast.append((name, token if quoted is None else _unescape(quoted)))
        expected = found.end()
    else:
        if (
            fast
            and expected == len(text)
            and len(fast) <= MAX_PARAMS
            and not text.rstrip(" \t").endswith(",")
        ):
            return scheme, tuple(fast), None
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    while pos < len(text):
        match = _PARAM_RE.match(text, pos)
        if match is None:
            if _OPEN_QUOTE_RE.match(text, pos):
                raise ParseError(f"{what} has an unterminated quoted string")
            raise ParseError(f"{what} has a malformed auth-param at offset {pos}")
        name, quoted, token = match.groups()
        if name.lower() in seen:
            raise ParseError(f"{what} has a duplicate parameter {name[:32]}")
        seen.add(name.lower())
        if quoted is not None and "\\" in quoted:
            quoted = _UNESCAPE_RE.sub(r"\1", quoted)
        params.append((name, token if quoted is None else quoted))
        if len(params) > MAX_PARAMS:
            raise ParseError(f"{what} has more than {MAX_PARAMS} parameters")
        pos = match.end()
        if pos == len(text) and match.group().rstrip(" \t").endswith(","):
            raise ParseError(f"{what} ends with a comma")
    return scheme, tuple(params), None


def _unescape(quoted: str) -> str:
    return _UNESCAPE_RE.sub(r"\1", quoted) if "\\" in quoted else quoted


def _require_token(text: str) -> str:
    if not _TOKEN_RE.fullmatch(text):
        raise ValueError(f"not a token: {text!r}")
    return text


def _quote(text: str) -> str:
    if not text.isprintable() and _FORBIDDEN_RE.search(text):
        raise ValueError("a header parameter may not contain control characters")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Field:
    """A Digest parameter of :class:`Credentials`, looked up lazily."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, owner: Credentials | None, owner_type: type[Credentials]) -> str | None:
        return None if owner is None else owner.param(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """An Authorization or Proxy-Authorization value of any scheme.

    ``params`` keeps every auth-param in order as (name, unquoted value). A scheme that sends
    one ``token68`` instead (``Basic``, ``Bearer``) has it in ``token68`` and no params.
    """

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    username = _Field("username")
    realm = _Field("realm")
    nonce = _Field("nonce")
    uri = _Field("uri")
    response = _Field("response")
    cnonce = _Field("cnonce")
    qop = _Field("qop")
    nc = _Field("nc")
    opaque = _Field("opaque")

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def algorithm(self) -> Algorithm | None:
        """The named algorithm (MD5 when absent), or ``None`` when it is not one we know."""
        return Algorithm.from_token(self.param("algorithm"))

    def param(self, name: str) -> str | None:
        """The value of a parameter, matched case-insensitively, or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.params if key.lower() == wanted), None)

    def to_header_value(self) -> str:
        """Serialize; raises ValueError for a value that would inject a line break."""
        scheme = _require_token(self.scheme)
        if self.token68 is not None:
            return f"{scheme} {self.token68}"
        parts = []
        for name, value in self.params:
            as_token = name.lower() in _TOKEN_PARAMS or not self.is_digest
            shown = value if as_token and _TOKEN_RE.fullmatch(value) else _quote(value)
            parts.append(f"{_require_token(name)}={shown}")
        return f"{scheme} {', '.join(parts)}"


def parse_credentials(value: str) -> Credentials:
    """Parse an Authorization or Proxy-Authorization value of any scheme.

    An unknown scheme parses (RFC 4475 §3.3.7 sends ``NoOneKnowsThisScheme opaque-data=here``)
    so that the caller can answer it with a challenge.
    """
    scheme, params, token68 = _parse_auth(value, "credentials")
    return Credentials(scheme=scheme, params=params, token68=token68)


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """A Digest WWW-Authenticate or Proxy-Authenticate value."""

    realm: str
    nonce: str
    algorithm: Algorithm = Algorithm.MD5
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False
    domain: tuple[str, ...] = ()

    def to_header_value(self) -> str:
        parts = [f"realm={_quote(self.realm)}"]
        if self.domain:
            parts.append(f"domain={_quote(' '.join(self.domain))}")
        parts.append(f"nonce={_quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm.value}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(_require_token(q) for q in self.qop))}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    """Parse a Digest challenge; another scheme or an unknown algorithm raises ParseError."""
    scheme, params, token68 = _parse_auth(value, "challenge")
    if scheme.lower() != "digest" or token68 is not None:
        raise ParseError(f"challenge scheme {scheme[:32]} is not Digest with parameters")
    found = Credentials(scheme=scheme, params=params)
    if found.realm is None or found.nonce is None:
        raise ParseError("Digest challenge lacks realm or nonce")
    if found.algorithm is None:
        raise ParseError("Digest challenge names an unsupported algorithm")
    return Challenge(
        realm=found.realm,
        nonce=found.nonce,
        algorithm=found.algorithm,
        qop=tuple(q for q in (p.strip(" \t") for p in (found.qop or "").split(",")) if q),
        opaque=found.opaque,
        stale=(found.param("stale") or "").lower() == "true",
        domain=tuple((found.param("domain") or "").split()),
    )


def build_credentials(
    *, challenge: Challenge, method: str, uri: str, username: str, ha1: str, cnonce: str, nc: int
) -> Credentials:
    """Answer ``challenge`` as a client, from the HA1 stored for ``challenge.algorithm``.

    ``cnonce`` comes from the caller's injected randomness; ``nc`` counts the requests sent with
    this nonce, from 1. Raises ValueError for a challenge that cannot be answered.
    """
    if not 0 < nc <= 0xFFFFFFFF:
        raise ValueError("nc must be between 1 and 0xFFFFFFFF")
    qop: str | None = None
    if challenge.qop:
        # RFC 3261 §22.4 item 8: "If a client receives a "qop" parameter in a challenge
        # header field, it MUST send the "qop" parameter"
        if "auth" not in (q.lower() for q in challenge.qop):
            raise ValueError("the challenge offers only qop values other than auth")
        qop = "auth"
    elif challenge.algorithm.is_session:
        raise ValueError("a -sess algorithm needs qop (RFC 3261 §22.4 item 8)")
    nc_text, a2 = f"{nc:08x}", f"{method}:{uri}"
    fields = None if qop is None else (nc_text, cnonce, qop)
    response = _response(challenge.algorithm, ha1, challenge.nonce, a2, fields)
    params = [("username", username), ("realm", challenge.realm), ("nonce", challenge.nonce)]
    params += [("uri", uri), ("response", response), ("algorithm", challenge.algorithm.value)]
    if qop is not None:
        params += [("cnonce", cnonce), ("qop", qop), ("nc", nc_text)]
    if challenge.opaque is not None:
        params.append(("opaque", challenge.opaque))
    return Credentials(scheme="Digest", params=tuple(params))


# --- verification ----------------------------------------------------------------------------


class DigestOutcome(Enum):
    """What :meth:`DigestVerifier.verify` decided; :attr:`reason` is the code for logs."""

    ACCEPTED = "digest_accepted"
    STALE = "digest_stale"  # right response, old nonce: challenge again with stale=true
    REPLAYED = "digest_replayed"
    BAD_NONCE = "digest_bad_nonce"
    WRONG_RESPONSE = "digest_wrong_response"
    UNSUPPORTED = "digest_unsupported"
    MALFORMED = "digest_malformed"
    REALM_MISMATCH = "digest_realm_mismatch"

    @property
    def reason(self) -> str:
        return self.value


class DigestVerifier:
    """Issues Digest challenges and decides whether credentials authenticate a request."""

    def __init__(
        self,
        *,
        nonces: NonceFactory,
        replay: ReplayTracker,
        algorithms: frozenset[Algorithm] = frozenset(Algorithm),
    ) -> None:
        if replay.lifetime < nonces.lifetime:
            raise ValueError("the replay tracker must remember pairs as long as nonces live")
        self._nonces = nonces
        self._replay = replay
        self._algorithms = algorithms

    def challenge(
        self, *, realm: str, now: float, algorithm: Algorithm = Algorithm.MD5, stale: bool = False
    ) -> Challenge:
        """A fresh challenge. Under RFC 8760, send one per algorithm, the preferred first."""
        # RFC 3261 §22.4 item 8: "servers MUST always send a "qop" parameter"
        nonce = self._nonces.issue(realm=realm, now=now)
        return Challenge(realm=realm, nonce=nonce, algorithm=algorithm, qop=("auth",), stale=stale)

    def verify(
        self, credentials: Credentials, *, method: str, realm: str, ha1: str, now: float
    ) -> DigestOutcome:
        """Decide on ``credentials`` sent with a ``method`` request to ``realm``.

        ``ha1`` is the HA1 stored for ``credentials.algorithm``; one of the wrong length gives
        UNSUPPORTED. A use is recorded only after the response proved right, so that a forged
        request cannot burn a legitimate client's nonce count.
        """
        # RFC 3261 §22: "Servers MUST NOT accept credentials using the "Basic" authorization
        # scheme"; only Digest is accepted here.
        if not credentials.is_digest:
            return DigestOutcome.UNSUPPORTED
        nonce, uri, response = credentials.nonce, credentials.uri, credentials.response
        cnonce, nc_text, qop = credentials.cnonce, credentials.nc, credentials.qop
        if nonce is None or uri is None or response is None or credentials.token68:
            return DigestOutcome.MALFORMED
        if credentials.username is None or credentials.realm is None:
            return DigestOutcome.MALFORMED
        algorithm = credentials.algorithm
        if (
            algorithm is None
            or algorithm not in self._algorithms
            or not algorithm.is_available
            or (credentials.param("userhash") or "").lower() == "true"
            or len(ha1) != algorithm.hex_length
        ):
            return DigestOutcome.UNSUPPORTED
        fields: tuple[str, str, str] | None = None
        if qop is None:
            # RFC 3261 §22.4 item 8: "any algorithms that have a dependency on the cnonce
            # (including "MD5-Sess") require that the qop directive be sent."
            if cnonce is not None or nc_text is not None or algorithm.is_session:
                return DigestOutcome.MALFORMED
        elif qop.lower() != "auth":
            return DigestOutcome.UNSUPPORTED  # auth-int needs the body; we never offer it
        elif cnonce is None or nc_text is None or not _NC_RE.fullmatch(nc_text):
            return DigestOutcome.MALFORMED
        else:
            fields = (nc_text, cnonce, qop)
        if len(response) != algorithm.hex_length or not _HEX_RE.fullmatch(response.lower()):
            return DigestOutcome.MALFORMED
        if credentials.realm != realm:
            return DigestOutcome.REALM_MISMATCH
        checked = self._nonces.check(nonce, realm=realm, now=now)
        if checked.status is NonceStatus.INVALID:
            return DigestOutcome.BAD_NONCE
        # RFC 3261 §22.4 item 6: "it is not necessarily a failure if the two fields are not
        # equivalent." So ``uri`` is hashed as sent, not compared with the Request-URI.
        expected = _response(algorithm, ha1, nonce, f"{method}:{uri}", fields)
        if not hmac.compare_digest(expected.encode(), response.lower().encode()):
            return DigestOutcome.WRONG_RESPONSE
        # RFC 2617 §3.2.1: "The server should only set stale to TRUE if it receives a request
        # for which the nonce is invalid but with a valid digest for that nonce"
        if checked.status is NonceStatus.EXPIRED:
            return DigestOutcome.STALE
        nc = 0 if fields is None else int(fields[0], 16)
        verdict = self._replay.record(nonce=nonce, issued_at=checked.issued_at, nc=nc, now=now)
        return {
            ReplayVerdict.FIRST_USE: DigestOutcome.ACCEPTED,
            ReplayVerdict.REPLAYED: DigestOutcome.REPLAYED,
            ReplayVerdict.STALE: DigestOutcome.STALE,
        }[verdict]
