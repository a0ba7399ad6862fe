"""The command line against PostgreSQL (``--db postgresql://...``), end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ringfence.cli import app

runner = CliRunner()


def test_the_command_line_on_postgresql(postgres_schema_url: str, tmp_path: Path) -> None:
    common = ["--data-dir", str(tmp_path / "data"), "--db", postgres_schema_url]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *common])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    report = json.loads(run("init", "--demo", "--json"))
    assert report["database"].startswith("postgresql+psycopg://")
    assert [p["username"] for p in report["demo"]["phones"]] == ["1001", "1002"]
    run("tenant", "add", "acme", "--domain", "acme.example")
    assert "exists already" in run("tenant", "add", "acme", "--domain", "x.example", code=1)
    password = json.loads(run("ext", "add", "acme", "1001", "--json"))["password"]
    assert len(password) >= 16
    run("number", "add", "acme", "+442079460000", "--ext", "1001")
    tenants = json.loads(run("tenant", "list", "--json"))
    assert [t["name"] for t in tenants] == ["acme", "demo"]
    assert json.loads(run("calls", "--json")) == []
    assert json.loads(run("registrations", "acme", "--json")) == []
    # The environment variable works as well as the option.
    result = runner.invoke(
        app,
        ["tenant", "list", "--json", "--data-dir", str(tmp_path / "data")],
        env={"RINGFENCE_DB": postgres_schema_url},
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 2
