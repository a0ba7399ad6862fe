"""Alembic's environment: run by :func:`alembic.command.upgrade`, never imported.

The connection comes from :meth:`ringfence.store.Store.migrate` in
``config.attributes["connection"]``, inside a transaction it has begun, so that the whole
upgrade commits or rolls back as one.
"""

from __future__ import annotations

from alembic import context

from ringfence.store.schema import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the ringfence migrations through Store.migrate()")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
