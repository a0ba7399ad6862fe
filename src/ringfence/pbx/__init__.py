"""The phone service as a SIP transaction user: router chain, registrar, trunks, call records.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
