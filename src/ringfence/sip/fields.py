"""The raw header container: fields in wire order, looked up case-insensitively.

:class:`Headers` keeps each header line as it arrived (name as written, value unfolded) and
finds them by a key that ignores case and maps compact forms (RFC 3261 §7.3.3) to full names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ringfence.errors import ParseError
from ringfence.sip.grammar import is_token, split_commas

__all__ = ["Headers", "canonical_name", "header_key"]

# RFC 3261 §7.3.3 and the IANA registry: compact forms map to the same header.
_COMPACT = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity",
}


#: Header name as written -> key. Bounded, since names come off the wire; holds valid names only.
_KEYS: dict[str, str] = {}
_KEYS_LIMIT = 4096


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    key = _KEYS.get(name)
    if key is None:
        lowered = name.lower()
        key = _COMPACT.get(lowered, lowered)
        # Only valid names are remembered: the parser trusts a name found here as a token.
        if len(_KEYS) < _KEYS_LIMIT and is_token(name):
            _KEYS[name] = key
    return key


def canonical_name(name: str) -> str:
    """The conventional spelling of a header name (``call-id`` -> ``Call-ID``)."""
    key = header_key(name)
    return _CANONICAL.get(key) or "-".join(part.capitalize() for part in key.split("-"))


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in wire order. Lookup is case-insensitive and knows compact forms.

    The container is immutable: the ``with_*`` methods return a new one.
    """

    fields: tuple[tuple[str, str], ...] = ()
    _lookup: dict[str, tuple[int, ...]] | None = field(
        init=False, repr=False, compare=False, hash=False, default=None
    )

    @property
    def _index(self) -> dict[str, tuple[int, ...]]:
        """Positions of each header by key, built on first use (a transaction layer that reads
        only Via, Call-ID and CSeq never pays for it)."""
        index = self._lookup
        if index is None:
            index = {}
            keys = _KEYS
            for position, (name, _) in enumerate(self.fields):
                key = keys.get(name) or header_key(name)
                if key in index:
                    index[key] += (position,)
                else:
                    index[key] = (position,)
            object.__setattr__(self, "_lookup", index)
        return index

    @classmethod
    def prebuilt(
        cls, fields: tuple[tuple[str, str], ...], index: dict[str, tuple[int, ...]]
    ) -> Headers:
        """Wrap fields whose lookup index the parser built while splitting them."""
        headers = cls(fields)
        object.__setattr__(headers, "_lookup", index)
        return headers

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._index

    def get(self, name: str) -> str | None:
        """Value of the first field called ``name``, or ``None``."""
        lookup = self._lookup
        key = _KEYS.get(name) or header_key(name)
        if lookup is None:
            keys = _KEYS
            for field_name, value in self.fields:
                if (keys.get(field_name) or header_key(field_name)) == key:
                    return value
            return None
        positions = lookup.get(key)
        return None if positions is None else self.fields[positions[0]][1]

    def get_all(self, name: str) -> tuple[str, ...]:
        """Values of every field called ``name``, one per header line."""
        positions = self._index.get(header_key(name))
        if positions is None:
            return ()
        fields = self.fields
        return tuple([fields[i][1] for i in positions])

    def keys(self) -> frozenset[str]:
        """Lookup keys (lower case, compact forms expanded) of the headers present."""
        return frozenset(self._index)

    def single(self, name: str) -> str | None:
        """Value of a header that may appear once; ParseError when it is repeated."""
        positions = self._index.get(header_key(name))
        if positions is None:
            return None
        if len(positions) > 1:
            raise ParseError(f"more than one {canonical_name(name)} header")
        return self.fields[positions[0]][1]

    def repeated(self) -> tuple[str, ...]:
        """Keys of the headers that appear on more than one line."""
        return tuple(key for key, positions in self._index.items() if len(positions) > 1)

    def count(self, name: str) -> int:
        return len(self._index.get(header_key(name), ()))

    def elements(self, name: str) -> tuple[str, ...]:
        """Comma-separated elements of every field called ``name`` (RFC 3261 §7.3.1)."""
        values = self.get_all(name)
        if not values:
            return ()
        out: list[str] = []
        for value in values:
            # RFC 3261 §25.1 lets several list headers be empty (``Supported:``, ``Accept:``,
            # ``Allow:``); an empty field holds no elements.
            if value:
                out.extend(split_commas(value))
        return tuple(out)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    def with_added(self, name: str, value: str, *, first: bool = False) -> Headers:
        """Add a field, before the first field of the same name when ``first`` is set."""
        if first:
            positions = self._index.get(header_key(name))
            at = positions[0] if positions else len(self.fields)
            return Headers((*self.fields[:at], (name, value), *self.fields[at:]))
        return Headers((*self.fields, (name, value)))

    def without(self, name: str) -> Headers:
        """Remove every field called ``name``."""
        key = header_key(name)
        return Headers(tuple(f for f in self.fields if header_key(f[0]) != key))

    def with_value(self, name: str, value: str) -> Headers:
        """Set ``name`` to one field holding ``value``, in place of the first one if present."""
        key = header_key(name)
        out: list[tuple[str, str]] = []
        placed = False
        for field_name, field_value in self.fields:
            if header_key(field_name) == key:
                if not placed:
                    out.append((field_name, value))
                    placed = True
                continue
            out.append((field_name, field_value))
        if not placed:
            out.append((name, value))
        return Headers(tuple(out))

    def without_first_element(self, name: str) -> Headers:
        """Remove the first comma-separated element of ``name`` (popping a Via or Route)."""
        positions = self._index.get(header_key(name))
        if not positions:
            return self
        at = positions[0]
        field_name, value = self.fields[at]
        parts = list(split_commas(value))
        if len(parts) <= 1:
            return Headers(self.fields[:at] + self.fields[at + 1 :])
        return Headers(
            (*self.fields[:at], (field_name, ", ".join(parts[1:])), *self.fields[at + 1 :])
        )
