"""Options of the recommendations feature (config ``features: {recommendations: {...}}``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:  # pragma: no cover
    from ...models.recommender import RecommenderConfig

__all__ = ["Options", "RerankOptions", "Resolved", "resolve"]


class RerankOptions(BaseModel):
    """Optional reordering of the in-house top-N by a chat model (partner or in-house) on a route."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="rerank every request unless it sends rerank: false")
    route: str | None = Field(None, description="route (capability 'recommendations', chat targets); "
                                                "default: the default recommendations route")
    top_n: int = Field(20, ge=2, le=100, description="how many in-house results the model may reorder")
    metadata_fields: list[str] = Field(default_factory=list,
                                       description="allow-list: the only metadata keys that leave")
    max_title_chars: int = Field(120, ge=8, le=1000)
    summary_events: int = Field(50, ge=0, le=1000, description="recent events the anonymous summary counts")
    max_tokens: int = Field(600, ge=16, le=8192)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default "
                                                       "sqlite:///<state_dir>/recommendations.db")
    model_dir: str | None = Field(None, description="default <state_dir>/recommender/")
    encoder: Literal["auto", "minilm", "hashing"] = Field(
        "auto", description="item text encoder for cold items; auto: all-MiniLM-L6-v2 when installed, else hashing")
    refresh_interval_s: float | None = Field(3600.0, ge=0, description="refit CF on all events this often "
                                                                         "(in a thread; 0 or null: never)")
    sync_interval_s: float | None = Field(10.0, ge=0, description="pick up events other workers stored and "
                                                                  "models 'train' wrote this often (0/null: never)")
    check_hidden_in_db: bool = Field(True, description="also exclude the user's stored hides at request time")
    max_batch: int = Field(10_000, ge=1, description="events or items per POST")
    max_k: int = Field(500, ge=1)
    keep_versions: int = Field(2, ge=1)
    blas_threads: int | None = Field(1, ge=1, description="BLAS threads during a recommend call (null: the "
                                                          "library default); the per-call products are small "
                                                          "and a thread pool's hand-off costs more than they do")
    model: dict[str, Any] = Field(default_factory=dict, description="RecommenderConfig overrides (lam, ...)")
    rerank: RerankOptions = Field(default_factory=RerankOptions)

    @field_validator("model")
    @classmethod
    def _known_model_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:  # the recommender (numpy, scipy) is imported only when there is something to check
            return v
        from ...models.recommender import RecommenderConfig

        known = {f.name for f in fields(RecommenderConfig)}
        bad = sorted(set(v) - known)
        if bad:
            raise ValueError(f"unknown recommender setting(s) {bad}; expected any of {sorted(known)}")
        return v

    def recommender_config(self) -> RecommenderConfig:
        from ...models.recommender import RecommenderConfig

        return RecommenderConfig(**self.model)


@dataclass(frozen=True, slots=True)
class Resolved:
    """Options with paths resolved against the config's ``state_dir``."""

    options: Options
    database_url: str
    model_dir: Path


def resolve(options: Options, state_dir: str | Path | None) -> Resolved:
    base = Path(state_dir or "./.hybridgate")
    url = options.database_url or f"sqlite:///{base / 'recommendations.db'}"
    model_dir = Path(options.model_dir) if options.model_dir else base / "recommender"
    return Resolved(options, url, model_dir)
