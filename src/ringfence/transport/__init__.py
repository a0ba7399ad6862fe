"""asyncio shell: UDP, TCP and TLS sockets, the connection table and the clock.

It runs the effects the sans-I/O core returns. It knows SIP bytes and addresses, never tenants.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
