"""Revision files, oldest first. Alembic reads them by path; they are never imported."""
