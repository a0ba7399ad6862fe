"""Toll-fraud throttles, detectors, scoring and containment; decisions are pure.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
