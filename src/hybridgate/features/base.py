"""What a feature is: one object built from the gateway and its ``features.<name>`` options,
with HTTP routes of its own. Features call providers through ``Gateway.feature_call`` so routing,
data control, the egress ledger, budgets and usage apply to them exactly as to chat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..gateway import Gateway

__all__ = ["Feature", "NoOptions"]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Feature:
    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, gateway: Gateway, options: dict[str, Any] | None = None) -> None:
        self.gateway = gateway
        try:
            self.options: Any = self.Options.model_validate(options or {})
        except ValidationError as exc:
            errs = "; ".join(f"features.{self.name}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_url=False, include_input=False))
            raise ConfigError(f"{gateway.config.source}: {errs}") from None

    def routes(self) -> list[Any]:
        """Starlette routes this feature serves."""
        return []

    async def start(self) -> None:
        """Load what requests must not wait for (called once at server start)."""

    async def aclose(self) -> None:
        """Release resources."""
