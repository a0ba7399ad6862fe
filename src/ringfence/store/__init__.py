"""SQLAlchemy tables and repositories, Alembic migrations; SQLite or PostgreSQL.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
