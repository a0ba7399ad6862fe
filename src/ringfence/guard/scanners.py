"""Scanner fingerprints, kept in ``guard/data/scanners.toml`` so that operators can add to them
without a release."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["Fingerprints", "shipped_fingerprints"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fingerprints:
    """Texts that name a scanner: in the User-Agent, or in the From display name."""

    user_agents: tuple[tuple[str, str], ...] = ()  # (lower-case text, tool)
    from_displays: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Fingerprints:
        """Read the TOML form; ``ValueError`` says what is wrong with it."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"scanner fingerprints: {error}") from None

        def entries(name: str) -> tuple[tuple[str, str], ...]:
            out = []
            section = data.get(name, [])
            if not isinstance(section, list):
                raise ValueError(f"scanner fingerprints: {name} must be a list of [[{name}]]")
            for i, entry in enumerate(section):
                found = entry.get("text") if isinstance(entry, dict) else None
                if not isinstance(found, str) or not found.strip():
                    raise ValueError(f"scanner fingerprints: {name} #{i + 1} needs a text")
                out.append((found.strip().lower(), str(entry.get("tool", found))))
            return tuple(out)

        return cls(user_agents=entries("user_agent"), from_displays=entries("from_display"))

    @classmethod
    def load(cls, path: Path) -> Fingerprints:
        return cls.parse(path.read_text(encoding="utf-8"))

    def match(self, user_agent: str | None, from_display: str | None) -> str | None:
        """The tool a request's headers name, if any."""
        if user_agent:
            agent = user_agent.lower()
            for text, tool in self.user_agents:
                if text in agent:
                    return tool
        if from_display:
            display = from_display.lower()
            for text, tool in self.from_displays:
                if text in display:
                    return tool
        return None


def shipped_fingerprints() -> Fingerprints:
    """The list shipped with this release."""
    text = resources.files("ringfence.guard").joinpath("data/scanners.toml").read_text()
    return Fingerprints.parse(text)
