"""The scorecard page: one self-contained HTML document (inline CSS and SVG, no script, no external
resource), with a text alternative for every plot (a caption and a data table)."""

from __future__ import annotations

from html import escape
from typing import Any

from .svg import Point, bars, boxplot, scatter

__all__ = ["render_page"]

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fff}
header,main,footer{max-width:1040px;margin:0 auto;padding:0 20px}
header{border-bottom:2px solid #0072B2;padding-bottom:8px}
h1{font-size:1.6em;margin:18px 0 4px}h2{margin-top:34px;border-bottom:1px solid #ccc}h3{margin-bottom:4px}
nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.9em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.chosen td{background:#e8f4ea;font-weight:600}
.rec{background:#f7fafc;border-left:4px solid #009E73;padding:6px 14px;margin:10px 0}
.rec.none{border-left-color:#D55E00}
.warn{color:#8a3b00}
figure{margin:12px 0 20px}figcaption{font-size:.9em;color:#333;max-width:640px}
svg.plot{max-width:100%;height:auto;background:#fff;font-size:11px}
svg .ptitle{font-size:14px;font-weight:600}svg .alabel{font-size:12px}svg .plabel{font-size:11px}
details{margin:6px 0 14px}summary{cursor:pointer;color:#0b5394}
"""


def _n(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and spec == ".3f" and abs(v) >= 10:
        return f"{v:.1f}"
    return format(v, spec)


def _usd(v: Any) -> str:
    return "n/a" if v is None else f"${v:.4f}"


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None, caption: str = "") -> str:
    out = ["<table>" + (f"<caption>{escape(caption)}</caption>" if caption else "")]
    out.append("<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in head) + "</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f'<td class="num">{c}</td>' if c[:1] in "0123456789$-" or c == "n/a"
                                          else f"<td>{c}</td>" for c in rows[i]) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kind(cell: dict[str, Any]) -> str:
    if cell.get("kind") == "file":
        return "file"
    return "in-house" if cell.get("in_house") else "partner"


def _feature_section(name: str, f: dict[str, Any], rec: dict[str, Any]) -> str:
    metric = rec["metric"]
    chosen = (rec.get("chosen") or {}).get("name")
    out = [f'<section id="f-{escape(name)}" aria-labelledby="h-{escape(name)}">',
           f'<h2 id="h-{escape(name)}">{escape(name.capitalize())}</h2>',
           f"<p>Data: <code>{escape(str(f.get('data')))}</code>, {f.get('n')} items; eval task: "
           f"{escape(str(f.get('task')))}.</p>",
           f'<div class="rec{"" if chosen else " none"}"><h3>Recommendation: '
           f'{escape(chosen or "none meets the constraints")}</h3>']
    out += [f"<p>{escape(s)}</p>" for s in rec["sentences"]]
    out.append("</div>")
    points, refs, unplotted = [], [], []
    for o in rec["options"]:
        if o["quality"] is None or o["cost_usd_per_1k"] is None:
            if o["quality"] is not None and o["kind"] == "single":
                refs.append((o["name"], o["quality"]))
            else:
                unplotted.append(o["name"])
            continue
        kind = "mix" if o["kind"] != "single" else ("in-house" if o["in_house_only"] else "partner")
        points.append(Point(o["name"], o["cost_usd_per_1k"], o["quality"], kind, o["ci_low"], o["ci_high"],
                            o["name"] == chosen))
    floor = (f.get("floor") or {}).get("min")
    desc = (f"{metric} (higher is better) against cost in USD per 1,000 requests for {len(points)} options; "
            f"vertical whiskers are 95% bootstrap intervals; the step line is the Pareto frontier "
            f"({', '.join(f['pareto']) or 'none'}). "
            + (f"Dashed line: the quality floor {floor}. " if floor is not None else "")
            + (f"Not plotted (no quality or cost): {', '.join(unplotted)}." if unplotted else ""))
    svg = scatter(f"scatter-{name}", points, title=f"{name}: {metric} vs cost", desc=desc,
                  xlabel="cost, USD per 1,000 requests", ylabel=metric, floor=floor,
                  budget=f.get("budget_usd_per_1k"), references=refs)
    out.append(f"<figure>{svg}<figcaption>{escape(desc)}</figcaption></figure>")
    rows, classes = [], []
    for o in rec["options"]:
        ci = f"{_n(o['ci_low'])}–{_n(o['ci_high'])}" if o["ci_low"] is not None else "n/a"
        rows.append([escape(o["name"]), escape(o["kind"]), _n(o["quality"]), ci, _usd(o["cost_usd_per_1k"]),
                     _pct(o["egress_share"]), _pct(o["error_rate"]), _n(o["latency_p95_ms"], ".1f"),
                     "yes" if o["name"] in f["pareto"] else "", "yes" if o["eligible"] else
                     escape("; ".join(o["reasons"]))])
        classes.append("chosen" if o["name"] == chosen else "")
    out.append(_table(["option", "kind", metric, "95% CI", "cost / 1k", "egress", "errors", "p95 ms", "Pareto",
                       "eligible"], rows, classes, caption=f"{name}: every option (providers alone and mixes)"))
    groups = [(n, _kind(c), c.get("latency_samples_ms") or []) for n, c in f["cells"].items()]
    lat_desc = "; ".join(f"{n}: median {_n(c['latency_ms'].get('median') or c['latency_ms'].get('p50'), '.1f')} ms, "
                         f"p95 {_n(c['latency_ms'].get('p95'), '.1f')} ms" for n, c in f["cells"].items()
                         if c.get("latency_samples_ms"))
    if any(g[2] for g in groups):
        svg = boxplot(f"latency-{name}", groups, title=f"{name}: latency per request",
                      desc=f"Box plot (quartiles, whiskers at min and max) and every sample, log scale. {lat_desc}",
                      xlabel="milliseconds per request (log scale)")
        out.append(f"<figure>{svg}<figcaption>Latency per request, measured by the study: {escape(lat_desc)}."
                   "</figcaption></figure>")
    out.append(_cells_table(name, f))
    out.append("</section>")
    return "\n".join(out)


def _cells_table(name: str, f: dict[str, Any]) -> str:
    head = ["provider", "model", "where"] + list(f["headline"]) + ["p50 ms", "p95 ms", "cost / 1k", "errors",
                                                                    "egress", "egress w/ PII", "note"]
    rows = []
    for n, c in f["cells"].items():
        where = "offline file" if c.get("kind") == "file" else ("in-house" if c.get("in_house") else "partner")
        if c.get("emulated"):
            where += " (emulated)"
        vals = [_n(c["headline"].get(h)) for h in f["headline"]]
        note = escape(c["failed"][:200]) if c.get("failed") else ""
        rows.append([escape(n), escape(str(c.get("model") or c.get("file") or "")), where] + vals +
                    [_n(c["latency_ms"].get("p50"), ".1f"), _n(c["latency_ms"].get("p95"), ".1f"),
                     _usd(c.get("cost_usd_per_1k")), f"{c.get('errors')} ({_pct(c.get('error_rate'))})",
                     _pct(c.get("egress_share")), _pct(c.get("egress_pii_share")), note])
    return ("<details><summary>Measured cells (DESIGN metrics in study.json)</summary>"
            + _table(head, rows, caption=f"{name}: one row per provider measured") + "</details>")


def _egress_section(doc: dict[str, Any]) -> str:
    out = ['<section id="egress" aria-labelledby="h-egress"><h2 id="h-egress">Egress and dependence</h2>',
           "<p>Egress share: the fraction of a feature's requests that would leave for that provider under the "
           "gateway's current data policy (judged on each item's text and data classes); in-house providers are "
           "0. Requests with detected PII leave pseudonymised.</p>"]
    for name, f in doc["features"].items():
        rows = [(n, [("all requests", c.get("egress_share")), ("with detected PII", c.get("egress_pii_share"))])
                for n, c in f["cells"].items() if c.get("kind") != "file"]
        if not rows:
            continue
        limit = f.get("exposure_limit")
        desc = f"Egress share per provider for {name}; exposure limit {_pct(limit)}. " + "; ".join(
            f"{n}: {_pct(s[0][1])} ({_pct(s[1][1])} with PII)" for n, s in rows)
        svg = bars(f"egress-{name}", rows, title=f"{name}: share of requests leaving per provider", desc=desc,
                   xlabel="share of the feature's requests", xmax=1.0, percent=True,
                   limits=[(f"exposure limit {_pct(limit)}", limit)] if limit is not None else [])
        out.append(f"<figure>{svg}<figcaption>{escape(desc)}</figcaption></figure>")
    drills = doc.get("drills") or []
    ran = [d for d in drills if "before" in d]
    if drills:
        out.append("<h3>Exit drills: each feature without one vendor</h3><p>The feature's eval set is replayed "
                   "through its configured route as is, and with every provider of the vendor removed "
                   "(<code>hybridgate drill --without VENDOR</code>).</p>")
    if ran:
        rows = [(f"{d['feature']} without {d['vendor']}", [("before", d["before"].get("success_rate")),
                                                           ("after", d["after"].get("success_rate"))]) for d in ran]
        desc = "Share of requests served, before and after removing the vendor. " + "; ".join(
            f"{r[0]}: {_pct(r[1][0][1])} → {_pct(r[1][1][1])}" for r in rows)
        svg = bars("drills", rows, title="Exit drills: requests served before and after", desc=desc,
                   xlabel="share of requests served", xmax=1.0, percent=True)
        out.append(f"<figure>{svg}<figcaption>{escape(desc)}</figcaption></figure>")
    trows = []
    for d in drills:
        if "before" not in d:
            trows.append([escape(d.get("vendor", "")), escape(d.get("feature", "—")),
                          escape(d.get("unaffected") or d.get("error") or "")] + ["n/a"] * 6)
            continue
        b, a = d["before"], d["after"]
        metric = next(iter(b.get("headline") or a.get("headline") or {}), None)
        note = "; ".join(escape(x[:160]) for x in (b.get("error"), a.get("error")) if x)
        trows.append([escape(d["vendor"]), escape(d["feature"]), note or "replayed",
                      f"{_pct(b.get('success_rate'))} → {_pct(a.get('success_rate'))}",
                      f"{_n((b.get('headline') or {}).get(metric))} → {_n((a.get('headline') or {}).get(metric))}"
                      if metric else "n/a",
                      f"{_usd(b.get('cost_usd_per_1k'))} → {_usd(a.get('cost_usd_per_1k'))}",
                      f"{_n((b.get('latency_ms') or {}).get('p95'), '.1f')} → "
                      f"{_n((a.get('latency_ms') or {}).get('p95'), '.1f')}",
                      f"{b.get('egress_requests', 'n/a')} → {a.get('egress_requests', 'n/a')}",
                      escape(", ".join(d.get("removed_providers") or []))])
    if trows:
        out.append(_table(["vendor", "feature", "outcome", "served", "headline metric", "cost / 1k", "p95 ms",
                           "egress requests", "removed providers"], trows, caption="Exit drills, before → after"))
    out.append("</section>")
    return "\n".join(out)


def _shadow_section(shadow: list[dict[str, Any]]) -> str:
    """Live agreement of shadow providers with what was served (``GET /v1/shadow``), when given."""
    keys = sorted({k for row in shadow for k in (row.get("agreement") or {})})
    rows = [[escape(str(r.get("route"))), escape(str(r.get("provider"))), str(r.get("calls", "n/a")),
             str(r.get("errors", "n/a")), str(r.get("dropped", "n/a")), str(r.get("skipped_by_policy", "n/a"))]
            + [_n((r.get("agreement") or {}).get(k)) for k in keys] for r in shadow]
    return ('<section id="shadow" aria-labelledby="h-shadow"><h2 id="h-shadow">Shadow traffic: live agreement</h2>'
            "<p>Candidates that received a mirrored share of live requests, scored against the answer that was "
            "served (rolling window; from <code>GET /v1/shadow</code>).</p>"
            + _table(["route", "shadow provider", "calls", "errors", "dropped", "skipped by policy"] + keys, rows,
                     caption="Shadow agreement per route and candidate") + "</section>")


def _methods(doc: dict[str, Any]) -> str:
    b = doc["study"].get("bootstrap") or {}
    return (f'<section id="methods" aria-labelledby="h-methods"><h2 id="h-methods">How the numbers were made'
            f"</h2><ul><li>Every provider of a feature saw the same items (<code>hybridgate eval</code>'s harness); "
            f"metrics follow the DESIGN contract.</li><li>Confidence intervals: percentile bootstrap, "
            f"{b.get('resamples')} resamples of the items, {_pct(b.get('confidence'))} level, seed {b.get('seed')}; "
            "each resample is rescored from the predictions already made (chrF from summed per-sentence "
            "statistics, which gives the same values).</li><li>Cost per 1,000 requests: partner list prices per "
            "token and in-house fleet time from the gateway's price table (<code>prices:</code>); an in-process "
            "model without a fleet price costs 0.</li><li>Mixes are composed from per-item predictions: a partner "
            "for the requests the policy lets it see (or up to the exposure limit) and an in-house provider for "
            "the rest; their cost is share-weighted and their latency a share-weighted mixture.</li>"
            "<li>Latency is wall time per request inside one process, items run a few at a time.</li></ul>"
            "</section>")


def render_page(doc: dict[str, Any], recs: dict[str, dict[str, Any]],
                shadow: list[dict[str, Any]] | None = None) -> str:
    """The whole HTML page for a study document (``study.json`` + ``pareto``) and its recommendations."""
    st = doc["study"]
    title = f"Make-or-buy scorecard: {st.get('name')}"
    summary_rows, classes = [], []
    for name, rec in recs.items():
        c = rec.get("chosen")
        summary_rows.append([f'<a href="#f-{escape(name)}">{escape(name)}</a>',
                             escape(c["name"]) if c else '<span class="warn">none meets the constraints</span>',
                             f"{escape(rec['metric'])} {_n(c['quality']) if c else 'n/a'}",
                             _usd(c["cost_usd_per_1k"]) if c else "n/a", _pct(c["egress_share"]) if c else "n/a",
                             f"{sum(o['eligible'] for o in rec['options'])} of {len(rec['options'])}"])
        classes.append("")
    emulated = ", ".join(st.get("emulators") or [])
    parts = [f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
             f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title><style>{_CSS}</style>'
             f"</head><body><header><h1>{escape(title)}</h1><p>{escape(st.get('description') or '')}</p>"
             f"<p>Study <code>{escape(str(st.get('source')))}</code>, gateway config "
             f"<code>{escape(str(st.get('config')))}</code> (policy version {escape(str(st.get('policy_version')))})."
             + (f' <strong class="warn">Emulated vendors: {escape(emulated)}.</strong>' if emulated else "")
             + '</p><nav aria-label="sections"><a href="#summary">Summary</a>'
             + "".join(f'<a href="#f-{escape(n)}">{escape(n)}</a>' for n in recs)
             + '<a href="#egress">Egress and dependence</a><a href="#methods">Methods</a></nav></header><main>',
             '<section id="summary" aria-labelledby="h-summary"><h2 id="h-summary">Recommendations</h2>',
             _table(["feature", "recommended", "quality", "cost / 1k", "egress", "eligible options"], summary_rows,
                    classes, caption="The cheapest option per feature that meets its floor, budget, exposure and "
                                     "error limits"), "</section>"]
    parts += [_feature_section(name, doc["features"][name], rec) for name, rec in recs.items()]
    parts += [_egress_section(doc)] + ([_shadow_section(shadow)] if shadow else [])
    parts += [_methods(doc), "</main><footer><p>Generated by <code>hybridgate report</code> "
              "from study.json; the numbers behind this page are in report.json beside it.</p></footer></body></html>"]
    return "\n".join(parts)
