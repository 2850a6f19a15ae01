"""Where shared routing state lives: config ``state:`` picks in-process or Redis for budgets and
vendor shares alike (one switch, so that replicas share both or neither)."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["redis_state_url"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_state_url(state_url: str | None) -> str | None:
    """The Redis URL of ``state:``, or ``None`` for in-process state (``None``, ``""``, ``memory``)."""
    if state_url is None or state_url in ("", "memory", "memory://"):
        return None
    if state_url.startswith(_REDIS_SCHEMES):
        return state_url
    raise ConfigError(f"state: unsupported URL {state_url!r}; expected 'memory' or redis://host:port/db")
