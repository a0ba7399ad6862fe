"""The call-policy commands: ``policy show|set|high-risk``, ``block``, ``rates import``,
``check`` and the audit log's old and new values.

What a user reads is checked through the real ``ringfence`` process (``check --json``, a change
and its audit entry, and every error message); the rest runs the same app in-process through
typer's CliRunner, which is much faster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringfence.cli import app
from ringfence.config import Settings
from ringfence.store import Store

GB = "+442079460018"
FR = "+33142685300"
US_NATIONAL = "2125550123"

runner = CliRunner()


def run(data_dir: Path, *args: str, code: int = 0) -> str:
    """One command in-process: its standard output, or its error when it fails."""
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    return result.stderr if code else result.stdout


def run_json(data_dir: Path, *args: str) -> Any:
    return json.loads(run(data_dir, *args, "--json"))


def start(data_dir: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """One command as a real process, the way an admin runs it."""
    env = {**os.environ, "RINGFENCE_DATA": str(data_dir), "COLUMNS": "200"}
    env.pop("RINGFENCE_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ringfence", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def ringfence(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return finish(start(data_dir, *args))


def _state(data_dir: Path) -> tuple[int, list[Any]]:
    with Store.open(Settings.load(data_dir=data_dir).db_url) as store:
        return store.revision(), store.list_audit(None)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with tenant acme (US, extension 1001) whose policy is never changed."""
    data_dir = tmp_path_factory.mktemp("policy") / "data"
    run(data_dir, "init")
    run(data_dir, "tenant", "add", "acme", "--domain", "acme.example")
    run(data_dir, "ext", "add", "acme", "1001")
    return data_dir


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A fresh data directory with tenant acme (US, extensions 1001 and 1002)."""
    data_dir = tmp_path / "data"
    run(data_dir, "init")
    run(data_dir, "tenant", "add", "acme", "--domain", "acme.example")
    run(data_dir, "ext", "add", "acme", "1001")
    run(data_dir, "ext", "add", "acme", "1002")
    return data_dir


def test_check_prints_one_json_object_with_the_decision(shared: Path) -> None:
    # Two processes at once: the data directory takes concurrent readers.
    national = start(shared, "check", "acme", "1001", US_NATIONAL, "--json")
    international = start(shared, "check", "acme", "1001", FR, "--json")
    done = finish(national)
    assert done.returncode == 0, done.stderr
    domestic = json.loads(done.stdout)
    assert domestic["allowed"] is True
    assert domestic["reason"] == ""
    assert domestic["normalized"] == "+12125550123"
    assert (domestic["country"], domestic["kind"]) == ("US", "number")

    done = finish(international)
    assert done.returncode == 0, done.stderr
    abroad = json.loads(done.stdout)
    assert (abroad["allowed"], abroad["reason"], abroad["status"]) == (False, "intl_disabled", 403)
    assert (abroad["normalized"], abroad["country"]) == (FR, "FR")
    assert abroad["detail"] == "international calls are off"

    emergency = run_json(shared, "check", "acme", "1001", "911")
    assert (emergency["allowed"], emergency["normalized"]) == (True, "911")
    assert emergency["alert"] == "emergency_call"
    text = run(shared, "check", "acme", "1001", "+44 20 7946 0018")
    assert text.startswith(f"refused: intl_disabled (403): international calls are off; {GB}")


def test_policy_show_reports_each_value_and_where_it_comes_from(data: Path) -> None:
    shown = run_json(data, "policy", "show", "acme")
    settings = shown["settings"]
    assert settings["international"] == {"value": False, "source": "default"}
    assert settings["outbound"] == {"value": True, "source": "default"}
    assert settings["countries"] == {"value": None, "source": "default"}
    assert "premium" in settings["blocked_types"]["value"]
    assert shown["emergency_calls"] == "always allowed"
    assert shown["high_risk"]["origin"] == "packaged list"
    text = run(data, "policy", "show", "acme")
    assert "Call policy of acme (country US; emergency calls always allowed)" in text
    assert "international calls" not in text  # no window set: nothing about one

    run(data, "policy", "set", "acme", "--international", "on", "--countries", "GB")
    run(data, "policy", "set", "acme", "--ext", "1001", "--countries", "gb,fr")
    mine = run_json(data, "policy", "show", "acme", "--ext", "1001")
    assert mine["ext"] == "1001"
    assert mine["settings"]["international"] == {"value": True, "source": "tenant"}
    assert mine["settings"]["countries"] == {
        "value": ["GB"],
        "source": "tenant (the extension's looser value is not allowed)",
    }
    assert run_json(data, "check", "acme", "1001", FR)["reason"] == "country_not_allowed"

    changed = run(data, "policy", "set", "acme", "--loosen", "countries")
    assert "call policy of acme changed: loosen" in changed
    mine = run_json(data, "policy", "show", "acme", "--ext", "1001")
    assert mine["settings"]["countries"] == {"value": ["FR", "GB"], "source": "extension"}
    assert mine["extensions_may_loosen"] == ["countries"]
    assert run_json(data, "check", "acme", "1001", FR)["allowed"] is True
    assert run_json(data, "check", "acme", "1002", FR)["reason"] == "country_not_allowed"

    run(data, "policy", "set", "acme", "--ext", "1001", "--clear", "countries")
    mine = run_json(data, "policy", "show", "acme", "--ext", "1001")
    assert mine["settings"]["countries"] == {"value": ["GB"], "source": "tenant"}


def test_a_change_and_its_old_and_new_values_in_the_audit_log(shared: Path) -> None:
    run(shared, "tenant", "add", "setco", "--domain", "setco.example")
    run(shared, "ext", "add", "setco", "1001")
    done = ringfence(
        shared, "policy", "set", "setco", "--international", "on", "--countries", "GB,FR",
        "--max-rate", "0.25", "--window", "08:00-18:00", "--timezone", "Europe/London",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("call policy of setco changed: international, countries")

    done = ringfence(shared, "audit", "setco", "--json")
    assert done.returncode == 0, done.stderr
    latest = json.loads(done.stdout)[0]
    assert (latest["action"], latest["tenant"], latest["target"]) == (
        "policy.set",
        "setco",
        "tenant",
    )
    assert json.loads(latest["old"]) == {}
    assert json.loads(latest["new"]) == {
        "countries": ["FR", "GB"],
        "international": True,
        "max_rate": "0.25",
        "timezone": "Europe/London",
        "window": "08:00-18:00",
    }

    run(shared, "policy", "set", "setco", "--max-rate", "none", "--countries", "GB")
    latest = run_json(shared, "audit", "setco")[0]
    assert json.loads(latest["old"])["max_rate"] == "0.25"
    assert "max_rate" not in json.loads(latest["new"])
    assert json.loads(latest["new"])["countries"] == ["GB"]
    text = run(shared, "audit", "setco")
    assert "countries: FR,GB -> GB" in text
    assert "max_rate: 0.25 -> inherited" in text

    shown = run_json(shared, "policy", "show", "setco")["settings"]
    assert shown["window"] == {"value": ["08:00-18:00"], "source": "tenant"}
    assert shown["timezone"] == {"value": "Europe/London", "source": "tenant"}
    assert shown["max_rate"] == {"value": None, "source": "default"}
    late = run_json(shared, "check", "setco", "1001", GB, "--at", "2026-11-23T20:00")
    assert (late["allowed"], late["reason"]) == (False, "outside_window")
    day = run_json(shared, "check", "setco", "1001", GB, "--at", "2026-11-23T10:00")
    assert (day["allowed"], day["reason"]) == (True, "")
    # The other tenant of the directory is untouched.
    assert run_json(shared, "check", "acme", "1001", GB)["reason"] == "intl_disabled"


def test_blocked_callers(data: Path) -> None:
    added = run_json(data, "block", "add", "acme", "+44 909*", "--treatment", "busy")
    assert added == {"pattern": "+44909*", "ext": None, "treatment": "busy"}
    assert "anonymous blocked for extension 1001 (reject)" in run(
        data, "block", "add", "acme", "anonymous", "--ext", "1001"
    )
    assert run_json(data, "block", "list", "acme") == [
        {"pattern": "+44909*", "ext": None, "treatment": "busy"},
        {"pattern": "anonymous", "ext": "1001", "treatment": "reject"},
    ]
    assert [b["pattern"] for b in run_json(data, "block", "list", "acme", "--ext", "1001")] == [
        "anonymous"
    ]
    shown = run_json(data, "policy", "show", "acme", "--ext", "1002")
    assert [b["pattern"] for b in shown["blocked_callers"]] == ["+44909*"]
    assert "is blocked for acme already" in run(data, "block", "add", "acme", "+44909*", code=1)
    assert "+44909* unblocked" in run(data, "block", "remove", "acme", "+44909*")
    assert "acme has no block +44909*" in run(data, "block", "remove", "acme", "+44909*", code=1)
    assert [b["pattern"] for b in run_json(data, "block", "list", "acme")] == ["anonymous"]
    actions = [(e["action"], e["old"], e["new"]) for e in run_json(data, "audit", "acme")[:3]]
    assert actions == [
        ("block.remove", "busy", None),
        ("block.add", None, "reject"),
        ("block.add", None, "busy"),
    ]


def test_rates_and_the_high_risk_list(data: Path, tmp_path: Path) -> None:
    own = tmp_path / "own.csv"
    own.write_text("prefix,price,currency\n44,0.05,GBP\n", encoding="utf-8")
    world = tmp_path / "world.csv"
    world.write_text("\ufeff44,0.50,GBP\n33,0.30,EUR\n", encoding="utf-8")  # with a BOM
    assert run_json(data, "rates", "import", "acme", str(own)) == {
        "tenant": "acme",
        "imported": 1,
        "replaced": 0,
    }
    assert "2 rates imported (global); 0 replaced" in run(
        data, "rates", "import", "--global", str(world)
    )
    assert run_json(data, "rates", "import", str(world), "--global")["replaced"] == 2
    run(data, "policy", "set", "acme", "--international", "on", "--max-rate", "0.25")
    shown = run_json(data, "policy", "show", "acme")
    assert shown["rates"] == {"tenant": 1, "global": 2}
    assert shown["unpriced_numbers"] == "refused (no_rate)"
    london = run_json(data, "check", "acme", "1001", GB)
    assert london["allowed"] is True
    assert london["rate"] == {"prefix": "44", "price": "0.05", "currency": "GBP"}
    paris = run_json(data, "check", "acme", "1001", FR)
    assert (paris["allowed"], paris["reason"]) == (False, "rate_too_high")
    assert run_json(data, "check", "acme", "1001", US_NATIONAL)["reason"] == "no_rate"
    assert "0.05 GBP/min" in run(data, "check", "acme", "1001", GB)

    bad = tmp_path / "bad.csv"
    bad.write_text("44,0.01,GBP\n33,0.02,EUR\n34,abc,EUR\n", encoding="utf-8")
    failed = runner.invoke(app, ["rates", "import", "acme", str(bad), "--data-dir", str(data)])
    assert failed.exit_code == 1
    assert failed.stderr == "error: line 3: 'abc' is not a price; nothing was imported\n"
    assert run_json(data, "check", "acme", "1001", GB)["rate"]["price"] == "0.05"

    assert run_json(data, "policy", "high-risk", "show") == {
        "origin": "packaged list",
        "ranges": shown["high_risk"]["ranges"],
    }
    ranges = tmp_path / "ranges.csv"
    ranges.write_text("prefix,label,source\n1212555,Test range,ticket 42\n", encoding="utf-8")
    assert run_json(data, "policy", "high-risk", "import", str(ranges)) == {
        "origin": "operator list",
        "ranges": 1,
    }
    refused = run_json(data, "check", "acme", "1001", US_NATIONAL)
    assert (refused["reason"], refused["detail"]) == (
        "high_risk_range",
        "+1212555 (Test range) is a high-risk range",
    )
    assert "high-risk ranges in use: 12 (packaged list)" in run(
        data, "policy", "high-risk", "reset"
    )
    assert run_json(data, "check", "acme", "1001", US_NATIONAL)["reason"] == "no_rate"
    assert [e["action"] for e in run_json(data, "audit")[:2]] == [
        "high_risk.reset",
        "high_risk.import",
    ]


BAD_INPUT = [
    (["policy", "set", "acme", "--international", "maybe"], 1, "--international takes"),
    (["policy", "set", "acme", "--countries", "XX"], 1, "'XX' is not a country code"),
    (
        ["policy", "set", "acme", "--window", "25:00-26:00"],
        1,
        "'25:00-26:00' is not a time window like 08:00-18:00; write HH:MM-HH:MM",
    ),
    (["policy", "set", "acme", "--max-rate", "-1"], 1, "--max-rate takes a price per minute"),
    (["policy", "set", "acme"], 1, "nothing to set: give at least one setting"),
    (["policy", "show", "nope"], 1, "no tenant named 'nope' (see: ringfence tenant list)"),
    (
        ["block", "add", "acme", "12345"],
        1,
        "'12345' is not a caller to block: give a number (+442079460018), a prefix ending"
        " in * (+44909*) or anonymous",
    ),
    (["rates", "import", "acme", "missing.csv"], 1, "cannot read missing.csv"),
    (["rates", "import"], 2, "give TENANT FILE, or --global FILE"),
    (["check", "acme", "1001", GB, "--at", "tonight"], 1, "is not an ISO time such as"),
    (["policy", "high-risk", "import"], 2, "import takes one FILE"),
]


IDS = [" ".join(args[:4]) for args, _, _ in BAD_INPUT]


@pytest.fixture(scope="module")
def refusals(
    shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, subprocess.CompletedProcess[str]], bool]:
    """Every bad command of BAD_INPUT, run at once as real processes (they only read), and
    whether the data directory was left as it was."""
    cwd = tmp_path_factory.mktemp("cwd")
    before = _state(shared)
    running = {
        name: start(shared, *args, cwd=cwd)
        for name, (args, _, _) in zip(IDS, BAD_INPUT, strict=True)
    }
    done = {name: finish(process) for name, process in running.items()}
    return done, _state(shared) == before


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUT, ids=IDS)
def test_bad_input_gets_one_line_that_says_what_to_fix_and_changes_nothing(
    refusals: tuple[dict[str, subprocess.CompletedProcess[str]], bool],
    args: list[str],
    code: int,
    message: str,
) -> None:
    results, unchanged = refusals
    done = results[" ".join(args[:4])]
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert unchanged, "a refused command changed the database"


def test_a_tenant_gets_its_budgets_when_it_is_created(data: Path) -> None:
    run(data, "tenant", "add", "newco", "--domain", "newco.example", "--daily-budget", "20",
        "--monthly-budget", "200")  # fmt: skip
    limits = run_json(data, "policy", "show", "newco")["limits"]
    assert limits["daily_budget"] == {"value": "20", "source": "tenant"}
    assert limits["monthly_budget"] == {"value": "200", "source": "tenant"}
    # Without them, the safe defaults.
    default = run_json(data, "policy", "show", "acme")["limits"]["daily_budget"]
    assert default["value"] == "50"
    assert default["source"] != "tenant"
    # A budget that is no amount creates no tenant.
    err = run(data, "tenant", "add", "bad", "--domain", "bad.example", "--daily-budget", "lots",
              code=1)  # fmt: skip
    assert "daily budget" in err
    assert "bad" not in run(data, "tenant", "list")
