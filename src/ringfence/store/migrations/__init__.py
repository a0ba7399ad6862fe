"""Alembic migrations of the ringfence schema, shipped inside the package.

:meth:`ringfence.store.Store.migrate` runs them (``alembic upgrade head``) on its own
connection; ``ringfence init`` calls it. There is no ``alembic.ini``: the configuration is
built in code (:func:`ringfence.store.migrate.alembic_config`).

A schema change is a new file in ``versions/``, written by hand from ``script.py.mako``,
numbered after the last one (``0002_...``) with ``down_revision`` set to it, together with the
change to :mod:`ringfence.store.schema`. ``tests/store/test_migrations.py`` fails while the
two disagree, on SQLite and on PostgreSQL.
"""
