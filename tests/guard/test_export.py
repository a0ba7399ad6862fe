"""The nftables export: the bans in force as a ruleset the host firewall loads, checked by the
real ``nft`` where it can run."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from ringfence.guard import Ban
from ringfence.guard.export import nftables_ruleset

NOW = 1_800_000_000.0
BANS = [
    Ban(network="203.0.113.5/32", since=NOW - 10, until=NOW + 90.4, reason="brute_force"),
    Ban(network="198.51.100.0/24", since=NOW - 10, until=math.inf, reason="manual"),
    Ban(network="2001:db8::/64", since=NOW - 10, until=NOW + 3600, reason="manual"),
    Ban(network="2001:db8:1::5/128", since=NOW - 10, until=NOW + 600, reason="scanner"),
    Ban(network="192.0.2.1/32", since=NOW - 900, until=NOW - 300, reason="flood"),  # lapsed
    Ban(network="192.0.2.2/32", since=NOW - 9, until=NOW - 1, reason="lifted", lifted=True),
]


def test_each_ban_in_force_is_an_element_with_the_time_it_has_left() -> None:
    text = nftables_ruleset(BANS, now=NOW)
    assert "203.0.113.5 timeout 91s" in text
    assert "198.51.100.0/24\n" in text  # no end: no timeout
    assert "2001:db8::/64 timeout 3600s" in text
    assert "2001:db8:1::5 timeout 600s" in text
    assert "192.0.2.1" not in text
    assert "192.0.2.2" not in text
    assert "th dport { 5060, 5061 } drop" in text


def test_the_ruleset_replaces_the_table_whole() -> None:
    lines = nftables_ruleset([], now=NOW, ports=(5080,)).splitlines()
    assert lines[3:6] == ["table inet ringfence", "delete table inet ringfence",
                          "table inet ringfence {"]  # fmt: skip
    assert "elements" not in "\n".join(lines)
    assert any("th dport { 5080 } drop" in line for line in lines)


def _nft_checks() -> bool:
    nft = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if nft is None:
        return False
    probe = subprocess.run([nft, "-c", "-f", "-"], input="table inet probe\n", text=True,
                           capture_output=True, timeout=10, check=False)  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(not _nft_checks(), reason="nft cannot check rulesets here (needs root)")
@pytest.mark.parametrize("bans", [BANS, []], ids=["bans", "none"])
def test_nft_accepts_the_ruleset(tmp_path: Path, bans: list[Ban]) -> None:
    path = tmp_path / "bans.nft"
    path.write_text(nftables_ruleset(bans, now=NOW))
    nft = shutil.which("nft") or "/usr/sbin/nft"
    result = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True,
                            timeout=10, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
