"""The ``ringfence`` command, driven through typer's CliRunner and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringfence.accounts import TenantId
from ringfence.cli import app
from ringfence.config import Settings
from ringfence.store import CallRecord, Store, StoredBinding

runner = CliRunner()


def run(data_dir: Path, *args: str, code: int = 0, stdin: str | None = None) -> str:
    result = runner.invoke(
        app, [*args, "--data-dir", str(data_dir)], input=stdin, env={"COLUMNS": "200"}
    )
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    return result.output


def run_json(data_dir: Path, *args: str, stdin: str | None = None) -> Any:
    return json.loads(run(data_dir, *args, "--json", stdin=stdin))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    run(data_dir, "init")
    return data_dir


def _store(data_dir: Path) -> Store:
    return Store.open(Settings.load(data_dir=data_dir).db_url)


def test_init_creates_everything_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = run(data_dir, "init")
    assert "(created)" in first
    assert "migrated from empty" in first
    for name in ("ringfence.db", "secret", "tls/cert.pem", "tls/key.pem"):
        assert (data_dir / name).is_file()
    assert oct((data_dir / "ringfence.db").stat().st_mode & 0o777) == "0o600"
    secret = (data_dir / "secret").read_bytes()
    again = run(data_dir, "init")
    assert "(kept)" in again
    assert "up to date" in again
    assert (data_dir / "secret").read_bytes() == secret
    report = run_json(data_dir, "init")
    assert report["schema"] == "0008"
    assert set(report["tls_hosts"]) >= {"localhost", "127.0.0.1"}


def test_init_demo_prints_the_softphone_settings_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    output = run(data_dir, "init", "--demo", "--domain", "192.0.2.10")
    for expected in (
        "server:    192.0.2.10",
        "port:      5060",
        "transport: UDP",
        "username:  1001",
        "username:  1002",
        "domain:    192.0.2.10",
    ):
        assert expected in output
    passwords = [line.split()[-1] for line in output.splitlines() if "password:" in line]
    assert len(passwords) == 2
    assert all(len(p) >= 16 for p in passwords)
    again = run_json(data_dir, "init", "--demo", "--domain", "192.0.2.10")
    assert again["demo"]["created"] is False
    assert [p["password"] for p in again["demo"]["phones"]] == [None, None]
    assert "192.0.2.10" in again["tls_hosts"]
    tenants = run_json(data_dir, "tenant", "list")
    assert [(t["name"], t["domain"]) for t in tenants] == [("demo", "192.0.2.10")]


def test_tenants_extensions_trunks_and_numbers(data: Path) -> None:
    run(data, "tenant", "add", "acme", "--domain", "Acme.Example")
    uk = run_json(
        data, "tenant", "add", "brit", "--domain", "brit.example", "--country", "gb",
        "--timezone", "Europe/London",
    )  # fmt: skip
    assert (uk["country"], uk["timezone"]) == ("GB", "Europe/London")
    listed = {t["name"]: t for t in run_json(data, "tenant", "list")}
    assert (listed["acme"]["country"], listed["acme"]["timezone"]) == ("US", "UTC")
    added = run_json(data, "ext", "add", "acme", "1001", "--name", "Reception")
    assert added["ext"] == "1001"
    assert added["display_name"] == "Reception"
    assert len(added["password"]) >= 16
    chosen = run(data, "ext", "add", "acme", "1002", "--password", "correct horse")
    assert "password" not in chosen.replace("has a new password", "")
    from_stdin = run_json(
        data, "ext", "add", "acme", "1003", "--password", "-", stdin="pass phrase\n"
    )
    assert from_stdin["password"] is None
    run(
        data,
        "trunk",
        "add",
        "acme",
        "carrier",
        "--host",
        "203.0.113.5:5070",
        "--transport",
        "tcp",
        "--username",
        "acct",
        "--password",
        "trunk-secret",
    )
    run(data, "number", "add", "acme", "+44 20 7946 0000", "--ext", "1001")

    assert [e["ext"] for e in run_json(data, "ext", "list", "acme")] == ["1001", "1002", "1003"]
    (trunk,) = run_json(data, "trunk", "list", "acme")
    assert trunk == {
        "tenant": "acme",
        "name": "carrier",
        "host": "203.0.113.5",
        "port": 5070,
        "transport": "tcp",
        "username": "acct",
        "has_password": True,
    }
    assert run_json(data, "number", "list", "acme") == [
        {"tenant": "acme", "e164": "+442079460000", "ext": "1001"}
    ]
    table = run(data, "ext", "list", "acme")
    assert "Reception" in table
    assert "+442079460000" in table
    assert "trunk-secret" not in run(data, "trunk", "list", "acme")

    renewed = run(data, "ext", "passwd", "acme", "1002")
    assert "password: " in renewed
    run(data, "number", "remove", "acme", "+442079460000")
    run(data, "ext", "remove", "acme", "1001")
    assert [e["ext"] for e in run_json(data, "ext", "list", "acme")] == ["1002", "1003"]
    actions = [e["action"] for e in run_json(data, "audit", "acme")]
    assert actions[0] == "extension.remove"
    assert actions[-1] == "tenant.add"


def test_no_cleartext_password_reaches_the_database_file(data: Path) -> None:
    run(data, "tenant", "add", "acme", "--domain", "acme.example")
    generated = run_json(data, "ext", "add", "acme", "1001")["password"]
    run(data, "ext", "add", "acme", "1002", "--password", "Chosen-Password-42")
    renewed = run_json(data, "ext", "passwd", "acme", "1002")["password"]
    files = [p for p in data.iterdir() if p.name.startswith("ringfence.db")]
    content = b"".join(p.read_bytes() for p in files)
    assert b"acme.example" in content  # the data is there, in these files
    for secret in (generated, "Chosen-Password-42", renewed):
        assert secret.encode() not in content


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "add", "acme", "--domain", "other.example"], "tenant named 'acme' exists"),
        (["tenant", "add", "acme2", "--domain", "acme.example"], "belongs to tenant 'acme'"),
        (["tenant", "add", "Bad Name", "--domain", "x.example"], "lower-case"),
        (["tenant", "add", "x", "--domain", "not a host"], "not a host name"),
        (["tenant", "add", "x", "--domain", "x.example", "--country", "XX"], "ISO 3166 code"),
        (
            ["tenant", "add", "x", "--domain", "x.example", "--timezone", "Mars/Base"],
            "not a time zone",
        ),
        (["ext", "add", "nope", "1001"], "no tenant named 'nope'"),
        (["ext", "add", "acme", "1001", "--password", "short"], "8 to 128 characters"),
        (["ext", "remove", "acme", "9999"], "acme has no extension '9999'"),
        (["number", "add", "acme", "02079460000", "--ext", "1001"], "not an E.164 number"),
        (["number", "add", "acme", "+442079460000", "--ext", "9999"], "no extension '9999'"),
        (["trunk", "add", "acme", "gw", "--host", "gw.example:99999"], "is not HOST:PORT"),
        (["trunk", "add", "acme", "gw", "--host", "gw", "--username", "u"], "both --username"),
        (["calls", "nope"], "no tenant named 'nope'"),
        (["registrations", "nope"], "no tenant named 'nope'"),
    ],
)
def test_errors_say_what_to_fix_exit_1_and_write_nothing(
    data: Path, args: list[str], message: str
) -> None:
    run(data, "tenant", "add", "acme", "--domain", "acme.example")
    with _store(data) as store:
        before = (store.revision(), store.list_audit(None))
    result = runner.invoke(app, [*args, "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ")
    assert message in result.output
    assert "Traceback" not in result.output
    with _store(data) as store:
        assert (store.revision(), store.list_audit(None)) == before


@pytest.mark.parametrize(
    "args",
    [
        ["tenant", "add", "acme"],  # --domain is required
        ["trunk", "add", "acme", "gw", "--host", "gw", "--transport", "sctp"],
        ["ext"],
        ["calls", "--limit", "many"],
        ["serve", "--sip", "nowhere"],
    ],
)
def test_usage_errors_exit_2(data: Path, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--data-dir", str(data)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_commands_before_init_say_to_run_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tenant", "list", "--data-dir", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "ringfence init" in result.output
    assert not (tmp_path / "absent").exists()
    tmp_path.joinpath("empty").mkdir()
    result = runner.invoke(app, ["tenant", "list", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "ringfence init" in result.output
    assert list(tmp_path.joinpath("empty").iterdir()) == []


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    result = runner.invoke(app, ["init"], env={"RINGFENCE_DATA": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert (data_dir / "ringfence.db").is_file()


def _binding(tenant_id: TenantId, ext: str, expires_at: float) -> StoredBinding:
    return StoredBinding(
        tenant_id=tenant_id,
        ext=ext,
        contact=f"<sip:{ext}@192.0.2.10:5062>",
        expires_at=expires_at,
        call_id="c",
        cseq=1,
        transport="UDP",
        source_host="198.51.100.7",
        source_port=40123,
        user_agent="baresip",
    )


def test_registrations_and_calls(data: Path) -> None:
    import time

    run(data, "tenant", "add", "acme", "--domain", "acme.example")
    run(data, "tenant", "add", "beta", "--domain", "beta.example")
    run(data, "ext", "add", "acme", "1001")
    run(data, "ext", "add", "beta", "2001")
    now = time.time()
    with _store(data) as store:
        acme, beta = (
            store.load_directory().tenant_by_domain(d) for d in ("acme.example", "beta.example")
        )
        assert acme is not None
        assert beta is not None
        store.replace_bindings(acme.id, "1001", [_binding(acme.id, "1001", now + 300)])
        store.replace_bindings(beta.id, "2001", [_binding(beta.id, "2001", now - 1)])
        for call_id, ended, tenant in (("old", now - 60, acme), ("new", now - 10, beta)):
            store.add_call_record(
                CallRecord(
                    id=None,
                    tenant_id=tenant.id,
                    call_id=call_id,
                    caller="1001",
                    callee="1002",
                    direction="internal",
                    started_at=ended - 20,
                    answered_at=ended - 15,
                    ended_at=ended,
                    duration=15.0,
                    final_status=200,
                    reason=None,
                )
            )
    (registration,) = run_json(data, "registrations")  # the expired one is not shown
    assert registration["tenant"] == "acme"
    assert registration["ext"] == "1001"
    assert registration["contact"] == "<sip:1001@192.0.2.10:5062>"
    assert registration["source"] == "udp:198.51.100.7:40123"
    assert 290 <= registration["expires_in"] <= 300
    assert run_json(data, "registrations", "beta") == []
    assert "Registrations: none" in run(data, "registrations", "beta")
    assert "198.51.100.7" in run(data, "registrations")

    assert [c["call_id"] for c in run_json(data, "calls")] == ["new", "old"]
    assert [c["call_id"] for c in run_json(data, "calls", "acme")] == ["old"]
    assert [c["call_id"] for c in run_json(data, "calls", "--limit", "1")] == ["new"]
    assert "internal" in run(data, "calls")


def test_serve_builds_settings_and_hands_them_to_the_service(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ringfence.app

    seen: list[Settings] = []
    monkeypatch.setattr(ringfence.app, "run_service", seen.append, raising=False)
    run(
        data,
        "serve",
        "--sip",
        "127.0.0.1:5070",
        "--sips",
        "off",
        "--metrics",
        "127.0.0.1:0",
        "--log-format",
        "json",
    )
    (settings,) = seen
    assert (settings.sip_host, settings.sip_port, settings.sips_port) == ("127.0.0.1", 5070, None)
    assert (settings.metrics_port, settings.log_format) == (0, "json")
    assert settings.db_url.endswith("/data/ringfence.db")


def test_serve_before_init_says_to_run_it(tmp_path: Path) -> None:
    output = run(tmp_path / "none", "serve", code=1)
    assert "ringfence init" in output


def test_serve_without_a_service_in_this_build(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ringfence.app

    monkeypatch.delattr(ringfence.app, "run_service", raising=False)
    output = run(data, "serve", code=1)
    assert "cannot serve yet" in output


def test_the_installed_command_runs_as_a_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "RINGFENCE_DATA": str(data_dir)}
    env.pop("RINGFENCE_DB", None)
    command = [sys.executable, "-m", "ringfence"]
    done = subprocess.run(
        [*command, "init", "--demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [p["username"] for p in report["demo"]["phones"]] == ["1001", "1002"]
    failed = subprocess.run(
        [*command, "tenant", "add", "demo", "--domain", "x.example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: a tenant named 'demo' exists already")
    assert "Traceback" not in failed.stderr
