"""Make-or-buy studies: ``hybridgate study run STUDY.yaml --out DIR``.

A study file names a gateway config, per feature a data set, the providers to measure on it, a
quality floor, a budget and an exposure limit, and the vendors to drill. Running it measures every
provider on the same items (``runner.run_eval``), adds what the DESIGN contract does not have —
egress share under the config's data policy, error rate, latency distribution, bootstrap intervals
on the headline metric — composes provider *mixes* from the per-item predictions (``study_mix``),
replays each feature without each drilled vendor, and writes ``DIR/study.json`` plus the raw
per-item predictions under ``DIR/raw/``. ``hybridgate report DIR`` turns that into the scorecard.

    name: example
    config: gateway.yaml            # relative to the study file; omitted: the embedded default
    emulators: [openai, gemini]     # started on free loopback ports: ${HYBRIDGATE_EMULATOR_OPENAI_URL} ...
    exposure_limit: 0.5             # max share of a feature's requests that may leave for partners
    budget_usd_per_1k: 1.0          # max cost per 1,000 requests (per feature: budget_usd_per_1k)
    drill: [openai]
    features:
      moderation:
        data: data/moderation.jsonl
        providers: [local, openai]  # provider, provider:model, {name, provider, model} or {name, file}
        floor: {metric: flagged.auprc, min: 0.6}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..errors import ConfigError

__all__ = ["FEATURES", "HEADLINES", "BootstrapOptions", "FeatureSpec", "Floor", "Study", "TargetSpec",
           "load_study", "parse_study", "run_study"]

FEATURES = ("moderation", "pii", "translation", "recommendations", "creative")
# the metric each feature is judged by (dotted paths into the DESIGN metrics); CIs are drawn for these
HEADLINES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "moderation": ("flagged.auprc",),
    "pii": ("char_f2", "direct.span_recall"),
    "translation": ("chrf",),
    "recommendations": ("ndcg@10",),
    "creative": ("format_compliance",),
})
Feature = Literal["moderation", "pii", "translation", "recommendations", "creative"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetSpec(_Strict):
    """One column of the matrix: a configured provider (+ model), or a file of offline outputs."""

    name: str | None = Field(None, description="label in the results; default: the provider or file name")
    provider: str | None = None
    model: str | None = None
    file: Path | None = Field(None, description="translation: one output line per data line; "
                                                "other features: JSONL, one prediction per data line")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, str):
            provider, _, model = v.partition(":")
            return {"provider": provider, "model": model or None}
        return v

    @model_validator(mode="after")
    def _one_source(self) -> TargetSpec:
        if (self.provider is None) == (self.file is None):
            raise ValueError("give exactly one of 'provider' and 'file'")
        if self.name is None:
            self.name = self.provider if self.provider is not None else Path(self.file or "").name
        return self


class Floor(_Strict):
    metric: str = Field(description="dotted metric path, e.g. flagged.auprc, char_f2, chrf")
    min: float


class FeatureSpec(_Strict):
    data: Path
    limit: int | None = Field(None, ge=1, description="only the first N items")
    providers: list[TargetSpec] = Field(min_length=1)
    floor: Floor | None = None
    headline: list[str] | None = Field(None, min_length=1, description="metrics to draw CIs for")
    budget_usd_per_1k: float | None = Field(None, ge=0)
    exposure_limit: float | None = Field(None, ge=0, le=1)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    data_classes: list[str] = Field(default_factory=list, description="classes every item carries")
    options: dict[str, Any] = Field(default_factory=dict, description="options for the feature's eval task")
    note: str = Field("", description="caveat shown with the feature in the report (e.g. data overlap)")

    @model_validator(mode="after")
    def _unique_names(self) -> FeatureSpec:
        names = [t.name for t in self.providers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"provider names must be unique; repeated: {dup} (set 'name')")
        return self


class EmulatorSpec(_Strict):
    faults: str = ""
    seed: int = 0
    script: Path | None = Field(None, description="JSON file of scripted chat answers (emulators/script.py)")


class BootstrapOptions(_Strict):
    resamples: int = Field(1000, ge=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0


class Study(_Strict):
    name: str = "study"
    description: str = ""
    config: Path | None = Field(None, description="gateway config; omitted: the embedded default")
    emulators: dict[Literal["openai", "gemini", "anthropic"], EmulatorSpec] = Field(default_factory=dict)
    features: dict[Feature, FeatureSpec] = Field(min_length=1)
    budget_usd_per_1k: float | None = Field(None, ge=0)
    exposure_limit: float = Field(1.0, ge=0, le=1)
    max_error_rate: float = Field(0.05, ge=0, le=1)
    drill: list[str] = Field(default_factory=list, description="vendors to remove, one drill each")
    bootstrap: BootstrapOptions = Field(default_factory=BootstrapOptions)
    _source: str = PrivateAttr("<study>")
    _base_dir: Path = PrivateAttr(Path("."))

    @property
    def source(self) -> str:
        """Where the study was read from (for messages)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """The folder that relative paths in the study are relative to."""
        return self._base_dir

    @field_validator("emulators", mode="before")
    @classmethod
    def _list_of_vendors(cls, v: Any) -> Any:
        return {name: {} for name in v} if isinstance(v, list) else v

    def path(self, p: Path) -> Path:
        """A path from the study file, relative to the file's folder."""
        return p if p.is_absolute() else self.base_dir / p

    def limits(self, feature: str) -> dict[str, Any]:
        """Floor, budget, exposure limit and error-rate limit in force for ``feature``."""
        spec = self.features[feature]  # type: ignore[index]
        headline = list(spec.headline or HEADLINES[feature])
        floor = spec.floor.model_dump() if spec.floor else None
        if floor and floor["metric"] not in headline:
            headline.insert(0, floor["metric"])
        return {"headline": headline, "floor": floor, "note": spec.note,
                "budget_usd_per_1k": spec.budget_usd_per_1k if spec.budget_usd_per_1k is not None
                else self.budget_usd_per_1k,
                "exposure_limit": spec.exposure_limit if spec.exposure_limit is not None else self.exposure_limit,
                "max_error_rate": spec.max_error_rate if spec.max_error_rate is not None else self.max_error_rate}


def _format(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid study"]
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_study(data: Any, *, source: str = "<study>", base_dir: Path | None = None) -> Study:
    """Validate a parsed study document; ``ConfigError`` names the source and the field at fault."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(source, exc)) from None
    study._source = source
    study._base_dir = base_dir or Path(".")
    for feature, spec in study.features.items():
        if not study.path(spec.data).exists():
            raise ConfigError(f"{source}: features.{feature}.data: no such file {study.path(spec.data)}")
        for i, t in enumerate(spec.providers):
            if t.file is not None and not study.path(t.file).exists():
                raise ConfigError(f"{source}: features.{feature}.providers.{i}.file: no such file "
                                  f"{study.path(t.file)}")
    if study.config is not None and not study.path(study.config).exists():
        raise ConfigError(f"{source}: config: no such file {study.path(study.config)}")
    return study


def load_study(path: str | os.PathLike[str]) -> Study:
    """Read and validate a study YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read study file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_study(data, source=str(p), base_dir=p.resolve().parent)


# ------------------------------------------------------------------------------ running


def _relative(path: str) -> str:
    """``path`` relative to the working directory when it lies below it (results name no home folders)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Emulators:
    """The study's vendor emulators on free loopback ports, with the variables naming them."""

    def __init__(self, specs: Mapping[str, EmulatorSpec], base: Study) -> None:
        self.specs = specs
        self.base = base
        self.started: list[Any] = []
        self.environ: dict[str, str] = {}

    def __enter__(self) -> _Emulators:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        if self.specs:
            from ..emulators import EmulatorThread

            for vendor, spec in self.specs.items():
                emu = EmulatorThread(vendor, faults=spec.faults, seed=spec.seed).start()
                self.started.append(emu)
                if spec.script is not None:
                    path = self.base.path(spec.script)
                    try:
                        rules = json.loads(path.read_text(encoding="utf-8")).get("rules") or []
                        emu.script(rules)
                    except (OSError, ValueError, AttributeError) as exc:
                        raise ConfigError(f"{self.base.source}: emulators.{vendor}.script: {path}: {exc}") from None
                self.environ[f"HYBRIDGATE_EMULATOR_{vendor.upper()}_URL"] = emu.url

    def __exit__(self, *exc: object) -> None:
        for emu in self.started:
            emu.stop()

    @property
    def urls(self) -> list[str]:
        return [emu.origin for emu in self.started]


async def run_study(study: Study, out: Path, *, quiet: bool = False,
                    say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every feature's matrix and the drills; write ``out/study.json`` and ``out/raw/``; return the JSON."""
    from ..config import load_config
    from ..gateway import Gateway
    from .study_cells import run_feature
    from .study_drill import run_drills

    say = say or (lambda m: None if quiet else _stderr(m))
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hybridgate-study-") as tmp, _Emulators(study.emulators, study) as emus:
        environ = {**os.environ, "HYBRIDGATE_STUDY_TMP": tmp, **emus.environ}
        cfg = load_config(study.path(study.config) if study.config else None, environ=environ)
        gw = Gateway(cfg)
        features: dict[str, Any] = {}
        try:
            await gw.start()
            detector = None
            if cfg.data_control.pii.enabled:
                detector = await asyncio.to_thread(gw.data_policy.warmup)
            for feature in study.features:
                say(f"study: {feature} ...")
                features[feature] = await run_feature(gw, study, feature, out, emulated=emus.urls, quiet=quiet)
        finally:
            await gw.aclose()
        drills = []
        if study.drill:
            say(f"study: drills without {', '.join(study.drill)} ...")
            drills = await run_drills(cfg, study, detector)
    doc = {
        "study": {"name": study.name, "description": study.description, "source": _relative(study.source),
                  "config": str(study.config) if study.config else cfg.source, "policy_version": cfg.version_hash,
                  "emulators": sorted(study.emulators), "bootstrap": study.bootstrap.model_dump(),
                  "exposure_limit": study.exposure_limit, "budget_usd_per_1k": study.budget_usd_per_1k,
                  "max_error_rate": study.max_error_rate, "drill": list(study.drill)},
        "features": features,
        "drills": drills,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    (out / "study.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"study: wrote {out / 'study.json'} in {doc['elapsed_s']} s")
    return doc
