"""Database errors come out of the store as ringfence errors that say what to fix."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from ringfence.accounts import AccountsService
from ringfence.errors import ConfigError, SchemaMismatch, StoreError, StoreUnavailable
from ringfence.store import Store


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/ringfence", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://root@localhost/test", "psycopg 3"),
        ("sqlite://", "give SQLite a file path"),
        ("not a url", "not a database URL"),
    ],
)
def test_unusable_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Store.open(url)


def test_postgres_urls_use_psycopg_3_and_hide_the_password() -> None:
    store = Store.open("postgres://admin:s3cret@127.0.0.1:1/test")
    try:
        assert store.backend == "postgresql"
        assert "s3cret" not in store.url
        with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL") as caught:
            store.revision()
        assert "s3cret" not in str(caught.value)
    finally:
        store.close()


def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="directory does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'nowhere' / 'ringfence.db'}")


def test_opening_without_create_does_not_make_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "ringfence.db"
    with pytest.raises(SchemaMismatch, match="ringfence init"):
        Store.open(f"sqlite:///{path}", create=False)
    assert not path.exists()


def test_a_database_at_another_schema_revision_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ringfence.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.migrate()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    with Store.open(f"sqlite:///{path}") as store, pytest.raises(SchemaMismatch, match="0099"):
        store.check_schema()


def test_a_writer_that_waits_too_long_for_the_lock_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ringfence.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.migrate()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(f"sqlite:///{path}", busy_timeout=0.05) as store:
            accounts = AccountsService(
                store, actor="cli", clock=lambda: 1.0, random=random.Random()
            )
            with pytest.raises(StoreUnavailable, match="locked by another writer"):
                accounts.add_tenant("acme", domain="acme.example")
            assert store.revision() == 0  # readers are not blocked in WAL mode
    finally:
        holder.rollback()
        holder.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "ringfence.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.migrate()
        with store.unit_of_work() as uow:
            connection = uow._session.connection()
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_store_errors_share_one_root() -> None:
    assert issubclass(StoreUnavailable, StoreError)
    assert issubclass(SchemaMismatch, StoreError)
