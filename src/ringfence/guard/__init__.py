"""Perimeter: auth-failure tracking, bans, flood limits, scanner handling, source ACLs.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
