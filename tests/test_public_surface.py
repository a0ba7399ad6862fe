"""Each package keeps a small, curated public surface (DESIGN.md §3)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

import ringfence

PACKAGES = sorted(
    name for _, name, is_pkg in pkgutil.iter_modules(ringfence.__path__, "ringfence.") if is_pkg
)


def test_every_layout_package_exists() -> None:
    expected = {
        "sip",
        "transport",
        "pbx",
        "accounts",
        "policy",
        "fraud",
        "guard",
        "identity",
        "privacy",
        "media",
        "notify",
        "store",
        "web",
    }
    assert {name.removeprefix("ringfence.") for name in PACKAGES} >= expected


@pytest.mark.parametrize("name", PACKAGES)
def test_package_declares_exactly_what_it_exports(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    for symbol in exported:
        assert hasattr(package, symbol), f"{name}.__all__ names missing {symbol}"
    public = {
        symbol
        for symbol, value in vars(package).items()
        if not symbol.startswith("_")
        and not isinstance(value, types.ModuleType)
        and symbol != "annotations"
    }
    assert public <= set(exported), f"{name} exposes undeclared names: {public - set(exported)}"


def test_the_issue_names_resolve() -> None:
    from ringfence.sip import ParseError, parse_message

    with pytest.raises(ParseError):
        parse_message(b"not sip")


def test_the_sip_core_pulls_in_no_io_or_randomness() -> None:
    """Importing the core loads no socket, asyncio, ssl, random or threading module (the
    import-linter contract checks our own imports; this checks what they drag in)."""
    code = (
        "import sys, ringfence.sip\n"
        "loaded = [m for m in ('socket', 'asyncio', 'ssl', 'random', 'secrets', 'threading')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-I", "-c", code], check=True, timeout=60)
