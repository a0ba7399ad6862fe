"""Voicemail: RTP/SRTP endpoint, recording, greetings, encryption at rest.

Not built yet: this package holds its place in the layout of DESIGN.md §2.
"""

__all__: list[str] = []
