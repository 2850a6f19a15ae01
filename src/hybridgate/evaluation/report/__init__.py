"""``hybridgate report DIR --out report.html``: a study's scorecard as one self-contained HTML page.

``build_report`` reads ``DIR/study.json``, finds the Pareto frontier (quality against cost) and the
recommendation per feature (``recommend``), writes the page (``html``, plots from ``svg``) and
``report.json`` beside it: the study's numbers (without the raw latency samples), the frontier and
every option with the reasons it was or was not eligible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest
from .html import render_page
from .recommend import recommend
from .svg import Point, pareto_front

__all__ = ["build_report", "load_shadow", "load_study_doc"]


def load_study_doc(study_dir: Path) -> dict[str, Any]:
    """``study.json`` of a study output directory (or the file itself)."""
    path = study_dir / "study.json" if study_dir.is_dir() else study_dir
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read the study results ({exc.strerror or exc}); "
                             "run 'hybridgate study run STUDY.yaml --out DIR' first") from None
    except ValueError as exc:
        raise InvalidRequest(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), dict) or "study" not in doc:
        raise InvalidRequest(f"{path}: not a study result (expected 'study' and 'features')")
    return doc


def _pareto(rec: dict[str, Any]) -> list[str]:
    pts = [Point(o["name"], o["cost_usd_per_1k"], o["quality"], o["kind"]) for o in rec["options"]
           if o["quality"] is not None and o["cost_usd_per_1k"] is not None]
    return [p.name for p in pareto_front(pts)]


def load_shadow(path: Path) -> list[dict[str, Any]]:
    """Rows of a saved ``GET /v1/shadow`` answer (``{"data": [...]}`` or the list itself)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{path}: cannot read shadow statistics ({exc})") from None
    rows = raw.get("data") if isinstance(raw, dict) else raw
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidRequest(f"{path}: expected the JSON of GET /v1/shadow ({{'data': [...]}})")
    return rows


def build_report(study_dir: Path, out: Path, shadow: Path | None = None) -> dict[str, Any]:
    """Write the HTML page to ``out`` and ``report.json`` beside it; return the report JSON.

    ``shadow``: a saved ``GET /v1/shadow`` answer to include (default: ``shadow.json`` in the study
    directory, if there is one)."""
    doc = load_study_doc(Path(study_dir))
    if shadow is None and Path(study_dir).is_dir() and (Path(study_dir) / "shadow.json").exists():
        shadow = Path(study_dir) / "shadow.json"
    shadow_rows = load_shadow(Path(shadow)) if shadow is not None else []
    recs: dict[str, dict[str, Any]] = {}
    for name, f in doc["features"].items():
        recs[name] = recommend(name, f)
        f["pareto"] = _pareto(recs[name])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(doc, recs, shadow_rows), encoding="utf-8")
    slim = {name: {**{k: v for k, v in f.items() if k not in ("cells", "eval")},
                   "cells": {n: {k: v for k, v in c.items() if k != "latency_samples_ms"}
                             for n, c in f["cells"].items()}} for name, f in doc["features"].items()}
    report = {"study": doc["study"], "recommendations": recs, "features": slim, "drills": doc.get("drills") or [],
              "shadow": shadow_rows, "html": out.name}
    out.with_name("report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return report
