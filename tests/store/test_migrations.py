"""Alembic migrations: up from empty, idempotent, and in step with the table classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from ringfence.errors import SchemaMismatch
from ringfence.store import Store
from ringfence.store.schema import Base

TABLES = {
    "tenants",
    "extensions",
    "trunks",
    "numbers",
    "bindings",
    "call_records",
    "audit_log",
    "policy_settings",
    "caller_blocks",
    "rates",
    "high_risk_ranges",
    "usage_limits",
    "meta",
    "bans",
    "alembic_version",
}


def _engine_url(db_url: str) -> str:
    return db_url.replace("postgresql://", "postgresql+psycopg://", 1)


def test_migrate_builds_every_table_from_empty(db_url: str) -> None:
    with Store.open(db_url) as store:
        with pytest.raises(SchemaMismatch, match="ringfence init"):
            store.check_schema()
        first = store.migrate()
        assert first.before is None
        assert first.after == "0008"
        assert first.changed
        store.check_schema()
        assert store.revision() == 0
        assert store.load_directory().tenants() == ()
    engine = create_engine(_engine_url(db_url))
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrate_again_changes_nothing(store: Store) -> None:
    again = store.migrate()
    assert (again.before, again.after, again.changed) == ("0008", "0008", False)


def test_migrations_match_the_table_classes(store: Store, db_url: str) -> None:
    """A change to schema.py without a migration (or the reverse) fails here."""
    engine = create_engine(_engine_url(db_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrations_ship_inside_the_package() -> None:
    import ringfence.store

    versions = Path(ringfence.store.__file__).parent / "migrations" / "versions"
    assert (versions.parent / "env.py").is_file()
    assert (versions.parent / "script.py.mako").is_file()
    assert sorted(p.name for p in versions.glob("0*.py")) == [
        "0001_initial.py",
        "0002_call_policy.py",
        "0003_high_risk_ranges.py",
        "0004_usage_limits.py",
        "0005_fraud_incidents.py",
        "0006_shared_usage.py",
        "0007_reset_password_on_contain.py",
        "0008_perimeter.py",
    ]


def test_a_store_that_is_not_migrated_says_to_run_init(db_url: str) -> None:
    with Store.open(db_url) as store, pytest.raises(SchemaMismatch, match="ringfence init"):
        store.revision()


def test_upgrading_an_existing_database_keeps_its_tenants(db_url: str) -> None:
    """A database made by the first release gains the call-policy schema with its data intact:
    existing tenants are in the US and on UTC until an admin says otherwise."""
    from alembic import command

    from ringfence.store.migrate import alembic_config

    engine = create_engine(_engine_url(db_url))
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.exec_driver_sql(
                "INSERT INTO tenants (name, domain, encryption_required, created_at)"
                " VALUES ('acme', 'acme.example', false, 1.0)"
            )
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        migration = store.migrate()
        assert (migration.before, migration.after) == ("0001", "0008")
        (tenant,) = store.load_directory().tenants()
        assert (tenant.name, tenant.country, tenant.timezone) == ("acme", "US", "UTC")
        assert tenant.allow_from == ()  # an upgraded tenant's phones may still come from anywhere
