"""Engines, transactions and the translation of database errors, for SQLite and PostgreSQL.

* SQLite: a file (in the data directory by default) in WAL mode, with foreign keys on, a busy
  timeout, and ``synchronous=FULL`` so that a committed call record survives a power cut.
  Write transactions start with ``BEGIN IMMEDIATE``: a writer waits for the lock (up to the busy
  timeout) when it begins, instead of failing half-way when a read lock cannot be upgraded.
* PostgreSQL: ``postgresql://`` (or ``postgres://``) URLs run on the psycopg 3 driver.

Every SQLAlchemy or driver error is translated here into the :mod:`ringfence.errors` tree;
messages name the database with its password hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from ringfence.errors import (
    ConfigError,
    Conflict,
    SchemaMismatch,
    StoreError,
    StoreUnavailable,
)

__all__ = ["Database"]

_WRITE = "ringfence_write"
BUSY_TIMEOUT = 5.0  # seconds a writer waits for SQLite's lock before giving up

# Unique constraints (named by the convention in schema.py) and what a clash means.
_CLASHES = {
    "uq_tenants_name": "a tenant with that name exists already",
    "uq_tenants_domain": "a tenant with that domain exists already",
    "uq_extensions_tenant_id_ext": "the tenant has that extension already",
    "uq_trunks_tenant_id_name": "the tenant has a trunk with that name already",
    "uq_trunks_host": "that host is the trunk of a tenant already",
    "uq_numbers_e164": "that number belongs to a tenant already",
}
_SQLITE_UNIQUE_RE = re.compile(r"UNIQUE constraint failed: (.+)")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Database:
    """An engine and its sessions. Use :meth:`read` and :meth:`write` for transactions."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        sqlite_synchronous: str = "FULL",
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.url = _driver_url(url)
        self.shown_url = self.url.render_as_string(hide_password=True)
        self.backend = self.url.get_backend_name()
        self.busy_timeout = busy_timeout
        if self.backend == "sqlite":
            self.engine = self._sqlite_engine(create=create, synchronous=sqlite_synchronous)
        else:
            self.engine = create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=5,
                connect_args={"connect_timeout": 5},
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    def _sqlite_engine(self, *, create: bool, synchronous: str) -> Engine:
        database = self.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(
                f"{self.shown_url}: give SQLite a file path, for example"
                " sqlite:///ringfence-data/ringfence.db"
            )
        path = Path(database)
        if not path.parent.is_dir():
            raise StoreUnavailable(
                f"cannot open the SQLite database {path}: its directory does not exist"
                " (run: ringfence init)"
            )
        if not create and not path.exists():
            raise SchemaMismatch(f"there is no database at {path} yet (run: ringfence init)")
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigError("sqlite_synchronous must be FULL or NORMAL")
        engine = create_engine(self.url)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below emit BEGIN, not the sqlite3 module.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {round(self.busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A read transaction, rolled back at the end. With ``snapshot`` every query in it sees
        the same committed state (SQLite's WAL read transactions always do; PostgreSQL needs
        REPEATABLE READ for it)."""
        with self.translated(), self._sessions() as session:
            options: dict[str, Any] = {}
            if snapshot and self.backend == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            session.connection(execution_options=options)
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        with self.translated(), self._sessions() as session:
            session.connection(execution_options={_WRITE: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain connection in a write transaction (migrations)."""
        with (
            self.translated(),
            self.engine.connect().execution_options(**{_WRITE: True}) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Turn SQLAlchemy and driver errors into the ringfence error tree."""
        try:
            yield
        except IntegrityError as error:
            raise Conflict(self._clash(error)) from error
        except OperationalError as error:
            raise self._operational(error) from error
        except ProgrammingError as error:
            if _is_missing_table(error):
                raise self._no_schema() from error
            raise StoreError(f"the database refused a query: {_first_line(error)}") from error
        except DBAPIError as error:
            raise StoreError(f"database error: {_first_line(error)}") from error
        except SQLAlchemyError as error:
            raise StoreError(f"database error: {_first_line(error)}") from error

    def _no_schema(self) -> SchemaMismatch:
        return SchemaMismatch(
            f"the database {self.shown_url} has no ringfence tables (run: ringfence init)"
        )

    def _operational(self, error: OperationalError) -> StoreError:
        line = _first_line(error)
        if _is_missing_table(error):
            return self._no_schema()
        if "locked" in line or "busy" in line:
            return StoreUnavailable(
                f"the database {self.shown_url} stayed locked by another writer for more than"
                f" {self.busy_timeout:g} s; try again"
            )
        if self.backend == "sqlite":
            return StoreUnavailable(f"cannot use the SQLite database {self.shown_url}: {line}")
        return StoreUnavailable(
            f"cannot reach PostgreSQL at {self.shown_url}: {line} (is it running, and is the URL"
            " right?)"
        )

    def _clash(self, error: IntegrityError) -> str:
        diag = getattr(error.orig, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name is None:
            match = _SQLITE_UNIQUE_RE.search(_first_line(error))
            if match:
                columns = [part.strip() for part in match.group(1).split(",")]
                table = columns[0].split(".")[0]
                name = "uq_" + table + "_" + "_".join(c.split(".")[-1] for c in columns)
        if name in _CLASHES:
            return _CLASHES[name]
        if "FOREIGN KEY" in _first_line(error) or (name or "").startswith("fk_"):
            return "the change refers to something that does not exist, or is still in use"
        return f"the change conflicts with stored data: {_first_line(error)}"


def _is_missing_table(error: DBAPIError) -> bool:
    line = _first_line(error)
    return "no such table" in line or ("relation" in line and "does not exist" in line)


def _driver_url(text: str) -> URL:
    """Parse a database URL and pick the driver: pysqlite, or psycopg 3 for PostgreSQL."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"{text!r} is not a database URL; use sqlite:///PATH or"
            " postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ConfigError(f"use the psycopg 3 driver for PostgreSQL, not {driver}")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigError(f"use sqlite:///PATH for SQLite, not sqlite+{driver}")
        return url
    raise ConfigError(
        f"unsupported database {backend!r}; use sqlite:///PATH or"
        " postgresql://USER@HOST:PORT/DATABASE"
    )
