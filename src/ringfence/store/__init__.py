"""SQLAlchemy 2 tables and repositories, with Alembic migrations; SQLite or PostgreSQL.

:class:`Store` is the one entry point: ``Store.open(url)``, ``migrate()``, then the accounts
(``load_directory``, ``revision``, ``unit_of_work`` for the admin services), registrations
(``replace_bindings``, ``load_bindings``, ``list_bindings``, ``delete_expired_bindings``) and
call records (``add_call_record``, ``list_call_records``). Database errors come out as
:class:`ringfence.errors.StoreError` and its subclasses.
"""

from ringfence.store.fraud_repo import Notice, OutboxEntry
from ringfence.store.records import CALL_DIRECTIONS, BindingsWrite, CallRecord, StoredBinding
from ringfence.store.store import Migration, Store
from ringfence.store.usage_repo import STALE as USAGE_STALE

__all__ = [
    "CALL_DIRECTIONS",
    "USAGE_STALE",
    "BindingsWrite",
    "CallRecord",
    "Migration",
    "Notice",
    "OutboxEntry",
    "Store",
    "StoredBinding",
]
