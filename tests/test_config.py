"""Settings and the data directory: defaults, validation messages, secret and certificate."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from ringfence.config import (
    ListenAddress,
    Settings,
    certificate_hosts,
    check_ready,
    ensure_certificate,
    ensure_data_dir,
    ensure_secret,
    read_secret,
)
from ringfence.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_defaults_follow_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "data", db_url=None, sip=None)
    data = (tmp_path / "data").absolute()
    assert settings.data_dir == data
    assert settings.db_url == f"sqlite:///{data}/ringfence.db"
    assert (settings.sip_host, settings.sip_port) == ("0.0.0.0", 5060)  # noqa: S104
    assert (settings.sips_host, settings.sips_port) == ("0.0.0.0", 5061)  # noqa: S104
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9060)
    assert settings.log_format == "console"
    assert (settings.min_expires, settings.default_expires, settings.max_expires) == (
        60,
        3600,
        3600,
    )
    assert settings.tls_cert_path == data / "tls" / "cert.pem"
    assert settings.tls_key_path == data / "tls" / "key.pem"
    assert settings.secret_path == data / "secret"
    with pytest.raises(ValueError, match="frozen"):
        settings.log_format = "json"  # type: ignore[misc,unused-ignore]


def test_values_given_win_and_off_turns_a_listener_off(tmp_path: Path) -> None:
    settings = Settings.load(
        data_dir=tmp_path,
        db_url="postgresql://ringfence@db.example/ringfence",
        sip="[::]:5070",
        sips="off",
        metrics="none",
        log_format="json",
        min_expires=30,
    )
    assert settings.sip == ListenAddress(host="::", port=5070)
    assert str(settings.sip) == "[::]:5070"
    assert (settings.sips_port, settings.metrics_port) == (None, None)
    assert settings.db_url.startswith("postgresql://")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sip": "5060"}, "--sip: expected HOST:PORT"),
        ({"sip": "0.0.0.0:99999"}, "--sip: the port of '0.0.0.0:99999' must be a number"),
        ({"sips": "bad host:5061"}, "--sips: expected HOST:PORT"),
        ({"metrics": "[::1:9060"}, "--metrics: expected HOST:PORT"),
        ({"log_format": "xml"}, "--log-format"),
        ({"db_url": "mysql://x"}, "--db: unsupported database URL"),
        ({"sips": "0.0.0.0:5060"}, "--sip and --sips both use port 5060"),
        ({"min_expires": 100, "default_expires": 50}, "1 <= min <= default <= max"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_say_which_option_and_what_to_fix(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match="invalid settings: .*" + message.replace("[", r"\[")):
        Settings.load(data_dir=tmp_path, **values)


def test_data_dir_and_secret_are_private_and_kept(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "data")
    assert ensure_data_dir(settings)
    assert _mode(settings.data_dir) == 0o700
    assert not ensure_data_dir(settings)
    with pytest.raises(ConfigError, match="ringfence init"):
        read_secret(settings)
    assert ensure_secret(settings, random_bytes=lambda n: b"k" * n)
    assert read_secret(settings) == b"k" * 32
    assert _mode(settings.secret_path) == 0o600
    assert not ensure_secret(settings)
    assert read_secret(settings) == b"k" * 32
    settings.secret_path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="holds 5 bytes"):
        read_secret(settings)


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="data directory"):
        ensure_data_dir(Settings.load(data_dir=tmp_path / "file"))


def test_the_certificate_names_the_hosts_and_serves_tls(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert ensure_certificate(settings, ["PBX.example.com", "192.0.2.10"], now=now)
    assert _mode(settings.tls_key_path) == 0o600
    assert set(certificate_hosts(settings)) == {
        "pbx.example.com",
        "localhost",
        "192.0.2.10",
        "127.0.0.1",
    }
    certificate = x509.load_pem_x509_certificate(settings.tls_cert_path.read_bytes())
    common_name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0]
    assert common_name.value == "pbx.example.com"
    assert certificate.not_valid_after_utc - now > dt.timedelta(days=800)
    # Kept when both files exist: init never replaces an operator's certificate.
    before = settings.tls_cert_path.read_bytes()
    assert not ensure_certificate(settings, ["other.example"])
    assert settings.tls_cert_path.read_bytes() == before
    _handshake(settings, "localhost")
    _handshake(settings, "127.0.0.1")


def _handshake(settings: Settings, server_name: str) -> None:
    """A TLS handshake in memory, the client verifying the certificate for ``server_name``."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(settings.tls_cert_path, settings.tls_key_path)
    client_context = ssl.create_default_context(cafile=str(settings.tls_cert_path))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(pipes[0], pipes[1], server_hostname=server_name)
    server = server_context.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
        if all(done.values()):
            break
    assert all(done.values())


def test_check_ready_says_to_run_init(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"no secret .*ringfence init"):
        check_ready(settings)
    ensure_secret(settings)
    with pytest.raises(ConfigError, match=r"no TLS certificate .*--sips off"):
        check_ready(settings)
    check_ready(Settings.load(data_dir=tmp_path, sips="off"))
    ensure_certificate(settings)
    check_ready(settings)
