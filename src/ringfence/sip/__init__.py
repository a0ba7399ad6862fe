"""The sans-I/O SIP core (RFC 3261 and friends), standard library only."""

__all__: list[str] = []
