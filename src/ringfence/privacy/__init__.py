"""Data inventory, subject requests, retention, erasure and pseudonymisation.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
