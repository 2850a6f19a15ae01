"""Prompt templates in files, versioned: ``templates/<task>.txt`` plus ``templates/_common.txt``.

A template file is YAML front matter (``version``, ``temperature``, ``max_tokens``,
``default_length``, ``lengths``) between ``---`` lines, then sections introduced by a line
``[name]``: ``system``, ``user``, ``json`` (the structured-output instruction), ``text`` (the
plain-text instruction used when streaming). ``_common.txt`` holds ``repair`` and ``regenerate``.
Placeholders are ``$name`` / ``${name}`` (``string.Template``), so JSON braces need no escaping.

A template's id is ``<task>@<version>+<sha256[:8]>``: the version is the author's, the hash is
of the task file and the common file together, so any edit shows even when the version was not
bumped. Files are read on first use (or by ``Templates.load_all`` at feature start), never at import.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from string import Template as _StringTemplate
from typing import Any

import yaml

from ...errors import ConfigError

__all__ = ["BUILTIN_DIR", "PromptTemplate", "Templates", "split_template"]

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
_TASK_SECTIONS = ("system", "user", "json")
_COMMON_SECTIONS = ("repair", "regenerate")


def split_template(path: Path, text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(front matter, sections) of one template file."""
    meta: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
        _, _, rest = text.partition("\n")
        head, sep, body = rest.partition("\n---")
        if not sep:
            raise ConfigError(f"{path}: front matter is not closed with a '---' line")
        body = body.partition("\n")[2]
        try:
            meta = yaml.safe_load(head) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: front matter is not valid YAML ({exc})") from None
        if not isinstance(meta, dict):
            raise ConfigError(f"{path}: front matter must be a mapping")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]") and stripped[1:-1].isidentifier():
            current = sections.setdefault(stripped[1:-1], [])
        elif current is not None:
            current.append(line)
        elif stripped and not stripped.startswith("#"):
            raise ConfigError(f"{path}: text before the first [section] line")
    return meta, {k: "\n".join(v).strip() for k, v in sections.items()}


@dataclass(frozen=True)
class PromptTemplate:
    """One task's prompt: sections, generation settings, length targets and its version id."""

    task: str
    version: str
    sha256: str
    sections: dict[str, str]
    common: dict[str, str]
    temperature: float = 0.9
    max_tokens: int = 800
    default_length: str = "medium"
    lengths: dict[str, tuple[float, float]] = field(default_factory=dict)
    relative: bool = False
    source: str = ""

    @property
    def id(self) -> str:
        return f"{self.task}@{self.version}+{self.sha256[:8]}"

    @property
    def streamable(self) -> bool:
        return "text" in self.sections

    def info(self) -> dict[str, str]:
        return {"name": self.task, "version": self.version, "sha256": self.sha256, "id": self.id}

    def render(self, section: str, values: dict[str, Any]) -> str:
        """The section with ``$placeholders`` filled (unknown placeholders are a template bug)."""
        text = self.sections.get(section) if section in self.sections else self.common.get(section)
        if text is None:
            raise ConfigError(f"{self.source}: template {self.task!r} has no [{section}] section")
        try:
            return _StringTemplate(text).substitute({k: "" if v is None else str(v) for k, v in values.items()})
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{self.source}: [{section}] uses an unknown or malformed placeholder ({exc})") from None


class Templates:
    """Loads the templates of every task once: from ``directory`` when given (an operator's own
    prompts), else, or for files missing there, the built-in ones."""

    def __init__(self, tasks: tuple[str, ...], directory: str | Path | None = None) -> None:
        self.tasks = tasks
        self.directory = Path(directory) if directory else None
        self._loaded: dict[str, PromptTemplate] | None = None
        self._lock = threading.Lock()

    def _file(self, name: str) -> Path:
        if self.directory is not None and (self.directory / name).is_file():
            return self.directory / name
        return BUILTIN_DIR / name

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read prompt template ({exc.strerror or exc})") from None

    def load_all(self) -> dict[str, PromptTemplate]:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                common_path = self._file("_common.txt")
                common_raw = self._read(common_path)
                _, common = split_template(common_path, common_raw.decode("utf-8"))
                missing = [s for s in _COMMON_SECTIONS if s not in common]
                if missing:
                    raise ConfigError(f"{common_path}: missing section(s) {missing}")
                self._loaded = {t: self._load(t, common, common_raw) for t in self.tasks}
        return self._loaded

    def _load(self, task: str, common: dict[str, str], common_raw: bytes) -> PromptTemplate:
        path = self._file(f"{task}.txt")
        raw = self._read(path)
        meta, sections = split_template(path, raw.decode("utf-8"))
        missing = [s for s in _TASK_SECTIONS if s not in sections]
        if missing:
            raise ConfigError(f"{path}: missing section(s) {missing}")
        if "version" not in meta:
            raise ConfigError(f"{path}: front matter needs a 'version'")
        lengths = {}
        for name, pair in (meta.get("lengths") or {}).items():
            if not (isinstance(pair, list) and len(pair) == 2 and 0 < float(pair[0]) <= float(pair[1])):
                raise ConfigError(f"{path}: lengths.{name} must be [min, max] with 0 < min <= max")
            lengths[str(name)] = (float(pair[0]), float(pair[1]))
        for name in ("short", "medium", "long"):
            if name not in lengths:
                raise ConfigError(f"{path}: lengths.{name} is missing")
        digest = hashlib.sha256(raw + b"\0" + common_raw).hexdigest()
        return PromptTemplate(
            task=task, version=str(meta["version"]), sha256=digest, sections=sections, common=common,
            temperature=float(meta.get("temperature", 0.9)), max_tokens=int(meta.get("max_tokens", 800)),
            default_length=str(meta.get("default_length", "medium")), lengths=lengths,
            relative=bool(meta.get("relative", False)), source=str(path))

    def get(self, task: str) -> PromptTemplate:
        return self.load_all()[task]
