"""Settings, validated once at start, and the data directory they point into.

:meth:`Settings.load` takes the values the command line gives (``None`` for "the default"),
fills the defaults that depend on the data directory, validates everything and raises
:class:`~ringfence.errors.ConfigError` with a message that names the option and what to fix.

The data directory (mode 0700) holds the SQLite database, ``secret`` (32 random bytes that sign
digest nonces, mode 0600) and ``tls/cert.pem`` with ``tls/key.pem`` (a self-signed certificate
for ``sips``, the key mode 0600). :func:`ensure_data_dir`, :func:`ensure_secret` and
:func:`ensure_certificate` create what is missing and keep what exists (``ringfence init``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ringfence.errors import ConfigError

__all__ = [
    "DEFAULT_DATA_DIR",
    "ListenAddress",
    "Settings",
    "certificate_hosts",
    "check_ready",
    "ensure_certificate",
    "ensure_data_dir",
    "ensure_secret",
    "parse_listen",
    "read_secret",
]

DEFAULT_DATA_DIR = "ringfence-data"
SECRET_SIZE = 32
CERT_VALIDITY = dt.timedelta(days=825)

_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?"
)
_OFF = ("off", "none", "no", "")

# Option names as the command line spells them, for messages.
_OPTION = {
    "data_dir": "--data-dir",
    "db_url": "--db",
    "sip": "--sip",
    "sips": "--sips",
    "metrics": "--metrics",
    "log_format": "--log-format",
    "tls_cert_path": "--tls-cert",
    "tls_key_path": "--tls-key",
    "guard_allow": "--guard-allow",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """Where a listener binds: an IP address (``0.0.0.0`` or ``::`` for all) or a host name,
    and a port (0 lets the system choose)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(value: str) -> ListenAddress:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    text = value.strip()
    example = "HOST:PORT, for example 0.0.0.0:5060 or [::]:5060"
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        valid_host = bool(sep) and _is_ip(host, version=6)
    else:
        host, sep, port = text.rpartition(":")
        valid_host = bool(sep) and (_is_ip(host, version=4) or bool(_HOSTNAME_RE.fullmatch(host)))
    if not valid_host:
        raise ValueError(f"expected {example}; got {value!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"the port of {value!r} must be a number from 0 to 65535")
    return ListenAddress(host=host, port=int(port))


def _is_ip(text: str, *, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _listen(value: Any) -> Any:
    return parse_listen(value) if isinstance(value, str) else value


def _optional_listen(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _OFF:
        return None
    return _listen(value)


def _db_url(value: Any) -> Any:
    if isinstance(value, str):
        scheme = value.partition(":")[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
            raise ValueError(
                f"unsupported database URL {value!r}; use sqlite:///PATH or"
                " postgresql://USER@HOST:PORT/DATABASE"
            )
    return value


def _networks(value: Any) -> tuple[str, ...]:
    """``CIDR,CIDR,...`` (or a list) of addresses or networks, each checked."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            out.append(str(ipaddress.ip_network(text, strict=True)))
        except ValueError:
            raise ValueError(
                f"{text!r} is not an address or network (e.g. 10.0.0.0/8, without host bits)"
            ) from None
    return tuple(out)


class Settings(BaseModel):
    """Everything the service needs to start. Build it with :meth:`load`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path
    db_url: Annotated[str, BeforeValidator(_db_url)]
    sip: Annotated[ListenAddress, BeforeValidator(_listen)]
    sips: Annotated[ListenAddress | None, BeforeValidator(_optional_listen)]
    metrics: Annotated[ListenAddress | None, BeforeValidator(_optional_listen)]
    log_format: Literal["console", "json"] = "console"
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    #: A blocked caller with the "silence" treatment hears nothing this long, then gets 480.
    silence_seconds: Annotated[float, Field(ge=0.5, le=120.0)] = 20.0
    #: Where fraud-incident e-mail goes out (an SMTP relay; none: e-mail notices wait in the
    #: outbox until one is configured) and the sender address it carries.
    smtp: Annotated[ListenAddress | None, BeforeValidator(_optional_listen)] = None
    smtp_from: str = "ringfence@localhost"
    #: Addresses or networks the perimeter never bans nor rate-limits (monitoring, the
    #: operator's own tools); "" for none.
    guard_allow: Annotated[tuple[str, ...], BeforeValidator(_networks)] = ()
    tls_cert_path: Path
    tls_key_path: Path

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        data_dir = Path(values.get("data_dir") or DEFAULT_DATA_DIR).expanduser().absolute()
        defaults = {
            "data_dir": data_dir,
            "db_url": f"sqlite:///{data_dir / 'ringfence.db'}",
            "sip": "0.0.0.0:5060",
            "sips": "0.0.0.0:5061",
            "metrics": "127.0.0.1:9060",
            "tls_cert_path": data_dir / "tls" / "cert.pem",
            "tls_key_path": data_dir / "tls" / "key.pem",
        }
        filled = {k: v for k, v in values.items() if v is not None}
        return {**defaults, **{k: v for k, v in filled.items() if k != "data_dir"}}

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if not 1 <= self.min_expires <= self.default_expires <= self.max_expires <= 86400:
            raise ValueError(
                "registrar expiry must satisfy 1 <= min <= default <= max <= 86400 seconds"
                f" (got min {self.min_expires}, default {self.default_expires},"
                f" max {self.max_expires})"
            )
        ports = [("--sip", self.sip), ("--sips", self.sips), ("--metrics", self.metrics)]
        seen: dict[int, str] = {}
        for option, address in ports:
            if address is None or address.port == 0:
                continue
            if address.port in seen:
                raise ValueError(
                    f"{seen[address.port]} and {option} both use port {address.port};"
                    " give each its own port"
                )
            seen[address.port] = option
        return self

    @classmethod
    def load(cls, **values: Any) -> Settings:
        """Validate ``values`` (``None`` meaning the default) or raise :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                field = str(item["loc"][0]) if item["loc"] else ""
                message = str(item["msg"]).removeprefix("Value error, ")
                problems.append(f"{_OPTION.get(field, field)}: {message}" if field else message)
            raise ConfigError("invalid settings: " + "; ".join(problems)) from None

    # -- what the service reads -----------------------------------------------------------

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "secret"

    @property
    def sip_host(self) -> str:
        return self.sip.host

    @property
    def sip_port(self) -> int:
        return self.sip.port

    @property
    def sips_host(self) -> str:
        return self.sip.host if self.sips is None else self.sips.host

    @property
    def sips_port(self) -> int | None:
        """``None`` when TLS is off (``--sips off``)."""
        return None if self.sips is None else self.sips.port

    @property
    def metrics_host(self) -> str:
        return "127.0.0.1" if self.metrics is None else self.metrics.host

    @property
    def metrics_port(self) -> int | None:
        """``None`` when metrics are off (``--metrics off``)."""
        return None if self.metrics is None else self.metrics.port


# -- the data directory -------------------------------------------------------------------


def ensure_data_dir(settings: Settings) -> bool:
    """Create the data directory (mode 0700) if missing. Returns whether it was created."""
    path = settings.data_dir
    try:
        created = not path.exists()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            path.chmod(0o700)
    except OSError as error:
        raise ConfigError(f"cannot create the data directory {path}: {error.strerror}") from None
    if not path.is_dir():
        raise ConfigError(f"the data directory {path} exists but is not a directory")
    return created


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (temp file, fsync, rename)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def ensure_secret(
    settings: Settings, *, random_bytes: Callable[[int], bytes] = secrets.token_bytes
) -> bool:
    """Create the 32-byte nonce secret (mode 0600) if missing. Returns whether it was created."""
    path = settings.secret_path
    if path.exists():
        read_secret(settings)
        return False
    try:
        _write_private(path, random_bytes(SECRET_SIZE))
    except OSError as error:
        raise ConfigError(f"cannot write the secret {path}: {error.strerror}") from None
    return True


def read_secret(settings: Settings) -> bytes:
    """The nonce secret, or a :class:`ConfigError` that says to run ``ringfence init``."""
    path = settings.secret_path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"there is no secret at {path} (run: ringfence init)") from None
    except OSError as error:
        raise ConfigError(f"cannot read the secret {path}: {error.strerror}") from None
    if len(data) != SECRET_SIZE:
        raise ConfigError(
            f"the secret {path} holds {len(data)} bytes, not {SECRET_SIZE}; delete it and run"
            " ringfence init (phones re-authenticate once)"
        )
    return data


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host.lower())


def ensure_certificate(
    settings: Settings, hosts: Iterable[str] = (), *, now: dt.datetime | None = None
) -> bool:
    """Create a self-signed TLS certificate and key unless both exist. Returns whether it did.

    The certificate names ``hosts`` and always ``localhost`` and ``127.0.0.1`` (subject CN is
    the first host given, or ``localhost``). The key is RSA 2048, which every softphone's TLS
    stack accepts, written with mode 0600.
    """
    cert_path, key_path = settings.tls_cert_path, settings.tls_key_path
    if cert_path.exists() and key_path.exists():
        return False
    names: list[str] = []
    for host in (*hosts, "localhost", "127.0.0.1"):
        if host and host.lower() not in names:
            names.append(host.lower())
    issued = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ringfence (self-signed)"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - dt.timedelta(minutes=5))
        .not_valid_after(issued + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _write_private(key_path, key_pem)
        _write_private(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        cert_path.chmod(0o644)
    except OSError as error:
        raise ConfigError(f"cannot write the TLS certificate or key: {error.strerror}") from None
    return True


def certificate_hosts(settings: Settings) -> tuple[str, ...]:
    """The DNS names and IP addresses the TLS certificate is valid for."""
    try:
        certificate = x509.load_pem_x509_certificate(settings.tls_cert_path.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return ()
    return tuple(
        [*names.get_values_for_type(x509.DNSName)]
        + [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    )


def check_ready(settings: Settings) -> None:
    """Before serving: the secret, and the certificate and key when TLS is on, are there."""
    read_secret(settings)
    if settings.sips is not None:
        for what, path in (("certificate", settings.tls_cert_path), ("key", settings.tls_key_path)):
            if not path.is_file():
                raise ConfigError(
                    f"there is no TLS {what} at {path} (run: ringfence init, or give --sips off)"
                )
