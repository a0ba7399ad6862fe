"""Customer-controlled call rules, pure: evaluate(attempt, rules, now) -> Decision.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
