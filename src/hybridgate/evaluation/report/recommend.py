"""The recommendation per feature: the cheapest option (a provider alone or a mix) that meets the quality
floor within the exposure limit, the budget and the error-rate limit, with its reasoning in sentences.

Every option of the feature (``study.json`` → ``features.<f>.mixes``) is checked against each limit;
the reasons an option fails are kept. Among those that pass, the cheapest wins (ties: higher quality,
then lower egress). The sentences say which options met the floor, which were excluded and why, the
choice, its cost against the alternatives, and what the bootstrap intervals allow one to conclude.
"""

from __future__ import annotations

from typing import Any

__all__ = ["recommend"]


def _q(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:.4f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _ci(m: dict[str, Any], metric: str) -> tuple[float | None, float | None]:
    ci = (m.get("ci") or {}).get(metric) or {}
    return ci.get("low"), ci.get("high")


def _ci_text(m: dict[str, Any], metric: str) -> str:
    lo, hi = _ci(m, metric)
    return f" (95% CI {_q(lo)}–{_q(hi)})" if lo is not None and hi is not None else ""


def _check(m: dict[str, Any], metric: str, limits: dict[str, Any]) -> list[str]:
    """Why option ``m`` cannot be recommended (empty: it can)."""
    floor = limits.get("floor")
    if m.get("failed"):
        return [f"it failed to run ({m['failed'][:160]})"]
    if m.get("cell_kind") == "file":
        return ["it is an offline output file: no latency, cost or egress was measured"]
    q = (m.get("headline") or {}).get(metric)
    if q is None:
        return [f"no {metric} was measured"]
    out = []
    if floor is not None and q < floor["min"]:
        out.append(f"{metric} {_q(q)} is below the floor {_q(floor['min'])}")
    egress, limit = m.get("egress_share"), limits.get("exposure_limit")
    if egress is not None and limit is not None and egress > limit + 1e-9:
        out.append(f"its egress share {_pct(egress)} exceeds the {_pct(limit)} exposure limit")
    cost, budget = m.get("cost_usd_per_1k"), limits.get("budget_usd_per_1k")
    if cost is not None and budget is not None and cost > budget + 1e-12:
        out.append(f"it costs {_usd(cost)} per 1,000 requests, over the {_usd(budget)} budget")
    err, max_err = m.get("error_rate"), limits.get("max_error_rate")
    if err is not None and max_err is not None and err > max_err + 1e-12:
        out.append(f"its error rate {_pct(err)} exceeds {_pct(max_err)}")
    return out


def recommend(feature: str, fdoc: dict[str, Any]) -> dict[str, Any]:
    """Choose an option for ``feature`` from its ``study.json`` part; returns options, choice and sentences."""
    limits = {k: fdoc.get(k) for k in ("floor", "exposure_limit", "budget_usd_per_1k", "max_error_rate")}
    metric = (limits["floor"] or {}).get("metric") or fdoc["headline"][0]
    floor = limits["floor"]
    options = []
    for m in fdoc.get("mixes") or []:
        reasons = _check(m, metric, limits)
        lo, hi = _ci(m, metric)
        options.append({"name": m["name"], "kind": m["kind"], "description": m.get("description"),
                        "quality": (m.get("headline") or {}).get(metric), "ci_low": lo, "ci_high": hi,
                        "cost_usd_per_1k": m.get("cost_usd_per_1k"), "egress_share": m.get("egress_share"),
                        "error_rate": m.get("error_rate"), "latency_p95_ms": (m.get("latency_ms") or {}).get("p95"),
                        "in_house_only": m.get("in_house_only"), "emulated": m.get("emulated") or [],
                        "eligible": not reasons, "reasons": reasons})
    eligible = [o for o in options if o["eligible"]]
    chosen = min(eligible, key=lambda o: (o["cost_usd_per_1k"] or 0.0, -(o["quality"] or 0.0),
                                          o["egress_share"] or 0.0)) if eligible else None
    s: list[str] = []
    bits = [f"{metric} ≥ {_q(floor['min'])}" if floor else f"no quality floor (judged by {metric})",
            f"at most {_pct(limits['exposure_limit'])} of requests to partners",
            f"a budget of {_usd(limits['budget_usd_per_1k'])} per 1,000 requests" if limits["budget_usd_per_1k"]
            is not None else "no budget", f"an error rate of at most {_pct(limits['max_error_rate'])}"]
    s.append(f"Constraints for {feature} on {fdoc.get('n')} items: " + ", ".join(bits) + ".")
    measured = [o for o in options if o["quality"] is not None and o["kind"] == "single"]
    met = [o for o in measured if floor is None or o["quality"] >= floor["min"]]
    if floor is not None:
        if met:
            s.append("Met the floor on their own: " + "; ".join(
                f"{o['name']} ({metric} {_q(o['quality'])}{_ci_text_o(o)})" for o in met) + ".")
        else:
            s.append(f"No provider alone met the floor of {_q(floor['min'])}"
                     + (f" (best: {max(measured, key=lambda o: o['quality'])['name']} at "
                        f"{_q(max(o['quality'] for o in measured))})." if measured else "."))
    excluded = [o for o in options if not o["eligible"]]
    if excluded:
        s.append("Excluded: " + "; ".join(f"{o['name']}, because {' and '.join(o['reasons'])}" for o in excluded) + ".")
    if chosen is None:
        s.append("No option meets every constraint, so there is no recommendation: relax a limit above or "
                 "improve a provider (the excluded list says which limit each option misses).")
    else:
        s.append(f"Recommended: {chosen['name']} — {chosen['description']}; {metric} {_q(chosen['quality'])}"
                 f"{_ci_text_o(chosen)}, {_usd(chosen['cost_usd_per_1k'])} per 1,000 requests, egress "
                 f"{_pct(chosen['egress_share'])}, p95 latency {_ms(chosen['latency_p95_ms'])} ms. It is the cheapest "
                 f"of the {len(eligible)} option(s) that meet every constraint.")
        s.extend(_deltas(chosen, options, eligible, metric))
        s.extend(_caveats(chosen, options, metric, floor, fdoc))
    if fdoc.get("note"):
        s.append(f"Note: {fdoc['note']}")
    emulated = sorted({e for o in options for e in o["emulated"]})
    if emulated:
        one = len(emulated) == 1
        s.append(f"Caution: {', '.join(emulated)} {'is' if one else 'are'} emulated here — {'its' if one else 'their'} "
                 "quality and latency measure a local emulator's canned answers, not the vendor's model; "
                 "rerun the study against the real APIs before deciding.")
    return {"feature": feature, "metric": metric, **limits, "options": options, "chosen": chosen, "sentences": s}


def _ci_text_o(o: dict[str, Any]) -> str:
    return f" (95% CI {_q(o['ci_low'])}–{_q(o['ci_high'])})" if o["ci_low"] is not None else ""


def _deltas(chosen: dict[str, Any], options: list[dict[str, Any]], eligible: list[dict[str, Any]],
            metric: str) -> list[str]:
    out = []
    cost = chosen["cost_usd_per_1k"] or 0.0
    rated = [o for o in options if o["quality"] is not None and o["cost_usd_per_1k"] is not None
             and o["name"] != chosen["name"]]
    if rated:
        best = max(rated, key=lambda o: o["quality"])
        if best["quality"] > (chosen["quality"] or 0.0):
            d = best["cost_usd_per_1k"] - cost
            out.append(f"The highest-quality option, {best['name']} ({metric} {_q(best['quality'])}"
                       f"{'' if best['eligible'] else ', not eligible'}), would cost {_usd(abs(d))} per 1,000 "
                       f"requests {'more' if d >= 0 else 'less'} for {_q(best['quality'] - (chosen['quality'] or 0))} "
                       f"more {metric}.")
    in_house = [o for o in rated if o["in_house_only"] and o["kind"] == "single"]
    partner = [o for o in rated if o["kind"] == "single" and not o["in_house_only"]]
    for label, group in (("all-in-house", in_house), ("partner-only", partner)):
        if group and not (label == "all-in-house" and chosen["in_house_only"]):
            alt = min(group, key=lambda o: o["cost_usd_per_1k"])
            d = alt["cost_usd_per_1k"] - cost
            out.append(f"Against the cheapest {label} option ({alt['name']}, {metric} {_q(alt['quality'])}): "
                       f"{_usd(abs(d))} per 1,000 requests {'saved' if d >= 0 else 'extra'}"
                       f" ({_usd(abs(d) * 1000)} per million requests).")
    return out


def _caveats(chosen: dict[str, Any], options: list[dict[str, Any]], metric: str, floor: dict[str, Any] | None,
             fdoc: dict[str, Any]) -> list[str]:
    out = []
    lo, hi = chosen["ci_low"], chosen["ci_high"]
    n = fdoc.get("n")
    if lo is None:
        out.append(f"No confidence interval could be drawn for {chosen['name']}: treat its {metric} as a point "
                   "estimate.")
    elif floor is not None and lo < floor["min"]:
        out.append(f"The floor {_q(floor['min'])} lies inside {chosen['name']}'s 95% CI {_q(lo)}–{_q(hi)}: on "
                   f"{n} items it is not established that it clears the floor; measure on more data.")
    elif floor is not None:
        out.append(f"{chosen['name']}'s whole 95% CI ({_q(lo)}–{_q(hi)}) lies above the floor.")
    if lo is not None:
        close = [o["name"] for o in options if o["name"] != chosen["name"] and o["ci_low"] is not None
                 and o["quality"] is not None and o["quality"] > (chosen["quality"] or 0)
                 and o["ci_low"] <= hi]
        if close:
            out.append(f"The intervals of {', '.join(close)} overlap {chosen['name']}'s: their higher {metric} "
                       f"is not resolved at n={n}.")
    return out
