"""``ringfence bans`` and ``ringfence acl`` through typer's CliRunner: what an operator types,
what it prints, what it refuses (exit 1, a line that says what to fix, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.test_cli import data, run, run_json  # noqa: F401


@pytest.fixture
def acme(data: Path) -> Path:  # noqa: F811
    run(data, "tenant", "add", "acme", "--domain", "acme.example")
    run(data, "ext", "add", "acme", "1001")
    run(data, "trunk", "add", "acme", "carrier", "--host", "198.51.100.9")
    return data


def test_bans_add_list_remove(acme: Path) -> None:
    assert "no bans in force" in run(acme, "bans", "list")
    assert "banned 203.0.113.5" in run(acme, "bans", "add", "203.0.113.5", "--for", "1h")
    assert "until lifted" in run(acme, "bans", "add", "2001:db8::/48")
    listed = run_json(acme, "bans", "list")
    assert [(b["address"], b["reason"]) for b in listed] == [
        ("2001:db8::/48", "manual"),
        ("203.0.113.5", "manual"),
    ]
    assert listed[0]["until"] is None
    assert listed[1]["until"] - listed[1]["since"] == pytest.approx(3600, abs=1)
    assert "lifted the ban on 203.0.113.5" in run(acme, "bans", "remove", "203.0.113.5")
    assert [b["address"] for b in run_json(acme, "bans", "list")] == ["2001:db8::/48"]
    audit = run(acme, "audit")
    assert "ban.add" in audit
    assert "ban.remove" in audit


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bans", "add", "203.0.113.5", "--for", "soon"], "not a duration"),
        (["bans", "add", "203.0.113.5", "--for", "5s"], "from 1m"),
        (["bans", "add", "203.0.113.7/24"], "host bits"),
        (["bans", "add", "0.0.0.0/0"], "too wide"),
        (["bans", "add", "example.com"], "not an IP address"),
        (["bans", "remove", "203.0.113.99"], "not banned"),
        (["bans", "export", "--ports", "sip"], "port numbers"),
        (["acl", "set", "acme", "10.0.0.0/33"], "not a network"),
        (["acl", "set", "acme", "10.0.0.0/8", "--ext", "9999"], "9999"),
        (["acl", "set", "acme", "10.0.0.0/8", "--trunk", "nope"], "no trunk"),
        (["acl", "set", "acme", "10.0.0.0/8", "--ext", "1001", "--trunk", "carrier"], "not both"),
        (["acl", "set", "nobody", "10.0.0.0/8"], "nobody"),
    ],
)
def test_mistakes_say_what_to_fix_and_change_nothing(
    acme: Path, args: list[str], says: str
) -> None:
    out = run(acme, *args, code=1)
    assert says in out
    assert run_json(acme, "bans", "list") == []
    shown = run_json(acme, "acl", "show", "acme")
    assert shown["networks"] == []
    assert shown["extensions"] == {}


def test_acl_set_show_and_lift(acme: Path) -> None:
    out = run(acme, "acl", "set", "acme", "192.0.2.0/24, 2001:db8::/48,192.0.2.0/24")
    assert "may connect from 192.0.2.0/24, 2001:db8::/48" in out
    run(acme, "acl", "set", "acme", "10.2.0.0/16", "--ext", "1001")
    run(acme, "acl", "set", "acme", "203.0.113.0/28", "--trunk", "carrier")
    assert run_json(acme, "acl", "show", "acme") == {
        "tenant": "acme",
        "networks": ["192.0.2.0/24", "2001:db8::/48"],
        "extensions": {"1001": ["10.2.0.0/16"]},
        "trunks": {"carrier": ["203.0.113.0/28"]},
    }
    assert "from anywhere" in run(acme, "acl", "set", "acme", "")
    assert run_json(acme, "acl", "show", "acme")["networks"] == []
    audit = run(acme, "audit")
    assert "acl.set" in audit


def test_bans_export_writes_an_nftables_file(acme: Path, tmp_path: Path) -> None:
    run(acme, "bans", "add", "203.0.113.5", "--for", "10m")
    target = tmp_path / "ringfence-bans.nft"
    assert "wrote 1 ban(s)" in run(acme, "bans", "export", "--nft", str(target))
    text = target.read_text()
    assert "203.0.113.5 timeout" in text
    assert "table inet ringfence {" in text
    printed = run(acme, "bans", "export", "--ports", "5080")
    assert "th dport { 5080 } drop" in printed
