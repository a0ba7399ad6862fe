"""The ``ringfence`` command.

A thin adapter: it parses arguments, calls a service (:mod:`ringfence.admin` for the store,
:mod:`ringfence.accounts` through it) and formats the result: rich tables for people, ``--json``
for every listing. Every command takes ``--data-dir`` (environment ``RINGFENCE_DATA``), and
those that touch the database take ``--db URL`` (environment ``RINGFENCE_DB``).

Exit codes: 0 done; 1 the action failed (the message says what to fix, and nothing was
written); 2 the command line itself is wrong (an unknown option, a bad option value).
No traceback is printed for an expected error; set ``RINGFENCE_DEBUG=1`` to see one for a bug.
"""

from __future__ import annotations

import os
import sys

import typer

# Importing a command module adds its commands to the app, in this order in --help.
from ringfence.cli import setup  # noqa: F401

# isort: split
from ringfence.cli import accounts, activity, fraud, guard, policy, sip_tools  # noqa: F401
from ringfence.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``ringfence`` console script."""
    try:
        app()
    except Exception as error:
        if os.environ.get("RINGFENCE_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(error).__name__}: {error}"
            " (this is a bug; RINGFENCE_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(1)
