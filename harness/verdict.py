"""The one function that turns records into verdicts.

A claim's design (harness/design.py, stored as ``results/<budget>/claims/<claim>.json`` when it runs) is its
full experiment at one budget: its spec, levels, seed shards and the key of every expected record.
``assess_claim(design, lookups)`` reads the records and
returns the claim's summary: per-seed metrics per level, and per metric the test, p, effect size with CI,
minimum detectable effect and verdict. The pytest verdict items and ``python -m harness verdict`` (the
DVC stage) both call it, so they cannot disagree. The statistics themselves live in ``harness.trend``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

from harness import scaling, trend
from harness.claim import LAW_X, STEPS_TO_THRESHOLD, ClaimSpec, axis_coordinate
from harness.records import Lookup, canonical_hash

SUMMARY_FORMAT = 1


def steps_to_threshold(curve_steps: Sequence[int], curve_returns: Sequence[float], threshold: float,
                       budget: int) -> float:
    """Env steps until the evaluation return first reaches ``threshold`` (data efficiency; lower is better).

    A run that never reaches it (NaN evaluations after divergence never do) is censored: it gets
    ``budget + 1``, one step past its env-step budget, so it ranks after every run that reached the
    threshold, even one that reached it at its last evaluation. Pure; the verdict computes it from each member's curve.
    """
    if len(curve_steps) != len(curve_returns):
        raise ValueError(f"curve_steps ({len(curve_steps)}) and curve_returns ({len(curve_returns)}) must "
                         "have one entry per evaluation")
    if budget < 0:
        raise ValueError(f"budget must be the member's env-step budget (>= 0), got {budget}")
    for step, ret in zip(curve_steps, curve_returns):
        if math.isfinite(float(ret)) and float(ret) >= threshold:
            return float(step)
    return float(budget + 1)


# --- results of one claim -------------------------------------------------------------------------------

def check_result(spec: ClaimSpec, result: Mapping[str, Any], seeds: Sequence[int]) -> list[str]:
    """Problems that make a point fail (the harness or the agent is broken), as messages; [] if fine."""
    problems = []
    members = result.get("members", [])
    got = [m["seed"] for m in members]
    if got != list(seeds):
        problems.append(f"the result has members with seeds {got}, expected {list(seeds)} (pass seeds to train)")
    for m in members:
        for metric in spec.metrics:
            if metric == STEPS_TO_THRESHOLD and spec.reach is not None:
                continue  # computed from the learning curve by the verdict
            if metric not in m["metrics"]:
                problems.append(f"seed {m['seed']}: metric {metric!r} missing (reported: {sorted(m['metrics'])})")
                continue
            v = m["metrics"][metric]
            if (v is None or not math.isfinite(v)) and not m.get("diverged"):
                problems.append(f"seed {m['seed']}: metric {metric!r} is {v} but the member is not marked diverged "
                                "(an unreported NaN: the agent must set diverged=True and diverged_step)")
    return problems


@dataclass
class MetricVerdict:
    metric: str
    direction: str
    verdict: str
    reason: str
    stats: dict[str, Any] = field(default_factory=dict)


def _observations(design: Mapping[str, Any], lookups: Mapping[str, Lookup]) -> list[dict[str, Any]]:
    """One row per (unit, member) of the design's valid records (with steps_to_threshold where the spec
    has ``reach``: censored at the largest env step evaluated in the claim + 1)."""
    rows = []
    for unit in design["units"]:
        lk = lookups.get(unit["path"])
        if lk is None or lk.status != "ok":
            continue
        for m in lk.record.result.members:
            rows.append({"level_id": unit["level_id"], "params": unit["params"], "seed": m.seed,
                         "metrics": m.metrics, "initial": m.initial, "diverged": m.diverged, "diverged_step": m.diverged_step,
                         "env_steps": m.env_steps, "flops": m.flops, "wall_time": m.wall_time,
                         "params_count": m.params.get("total"), "curve": [m.curve_steps, m.curve_returns]})
    reach = design["spec"].get("reach")
    if reach is not None and rows:
        budget = max(max(r["curve"][0], default=0) for r in rows)
        for r in rows:
            r["metrics"] = {**r["metrics"], STEPS_TO_THRESHOLD: steps_to_threshold(*r["curve"], reach, budget)}
    return rows


def assess_claim(design: Mapping[str, Any], lookups: Mapping[str, Lookup], *, alpha: float,
                 permutations: int = 9999) -> dict[str, Any]:
    """The claim's summary (the committed ``reports/<budget>/claims/<id>.json``) from its records.

    ``lookups`` maps each unit's relative record path (as in ``design["units"][i]["path"]``) to its Lookup.
    Diverged runs count as failures: their metric is the floor, min(random-policy score, worst finite run)
    on the claim's scale, so divergence is never a missing value that could flatter a level (scores: higher
    is better; steps_to_threshold is finite for every run, censored where the threshold was never reached).
    """
    spec = ClaimSpec.from_dict(design["spec"])
    status = {u["path"]: (lookups[u["path"]].status if u["path"] in lookups else "missing") for u in design["units"]}
    problems = {p: s for p, s in status.items() if s != "ok"}
    rows = _observations(design, lookups)
    controls = {repr(c) for c in spec.controls or ()}
    trend_rows = [r for r in rows if repr(r["params"][spec.axis]) not in controls]
    all_levels = [lv["value"] for lv in design["all_levels"] if repr(lv["value"]) not in controls]
    results: list[MetricVerdict] = []
    for metric, direction in spec.metrics.items():
        if problems:
            reason = (f"{len(problems)} of {len(status)} units have no valid record "
                      f"({', '.join(sorted(set(problems.values())))}); run `pytest claims/test_{design['claim']}.py "
                      f"--budget {design['budget']}`")
            results.append(MetricVerdict(metric, direction, trend.INCONCLUSIVE, reason))
            continue
        if design.get("plumbing_only"):
            results.append(MetricVerdict(metric, direction, "PLUMBING", "smoke budget: plumbing checked, no verdict"))
            continue
        if spec.derive:
            results.append(_assess_derived(spec, metric, direction, rows, alpha))
        else:
            results.append(_assess_metric(spec, metric, direction, trend_rows, all_levels, alpha, permutations))
    overall = trend.combine([r.verdict for r in results]) if spec.conjunction and not problems and \
        not design.get("plumbing_only") else None
    return {
        "format": SUMMARY_FORMAT, "claim": design["claim"], "budget": design["budget"], "doc": design["doc"],
        "spec": spec.to_dict(), "spec_hash": spec.hash, "levels": design["levels"], "all_levels": design["all_levels"],
        "seeds": design["seeds"], "alpha": alpha, "plumbing_only": bool(design.get("plumbing_only")),
        "units": [{**u, "status": status[u["path"]]} for u in design["units"]],
        "observations": rows,
        "metrics": [asdict(r) for r in results],
        "overall": overall,
        "provenance": _provenance(design, lookups),
    }


def _provenance(design: Mapping[str, Any], lookups: Mapping[str, Lookup]) -> dict[str, Any]:
    found = [(u, lookups[u["path"]].record) for u in design["units"]
             if u["path"] in lookups and lookups[u["path"]].status == "ok"]
    recs = [r for _, r in found]
    commits = sorted({(r.provenance.get("git") or {}).get("commit") or "unknown" for r in recs})
    dirty = [f"{u['level_id']}__s{r.seeds[0]}-{r.seeds[-1]}" for u, r in found
             if (r.provenance.get("git") or {}).get("dirty")]
    versions = sorted({canonical_hash(r.provenance.get("versions", {}), 8) for r in recs})
    return {"commits": commits, "dirty_records": dirty, "code_hashes": sorted({r.code["hash"] for r in recs}),
            "n_version_sets": len(versions),
            "versions": recs[0].provenance.get("versions", {}) if recs else {},
            "wall_time_s": round(sum(r.provenance.get("wall_time", 0.0) for r in recs), 1),
            "newest_record": max((r.provenance.get("created", "") for r in recs), default=None),
            "env_steps": int(sum(m.env_steps for r in recs for m in r.result.members)),
            "flops": float(sum(m.flops for r in recs for m in r.result.members))}


def _assess_metric(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]],
                   all_levels: Sequence[Any], alpha: float, permutations: int) -> MetricVerdict:
    raw = np.array([r["metrics"].get(metric, math.nan) for r in rows], dtype=float)
    y = spec.normalize(raw)
    diverged = ~np.isfinite(y)
    floor = None
    if diverged.any():
        candidates = list(y[~diverged]) + ([0.0] if spec.normalized else [])
        floor = float(min(candidates)) if candidates else 0.0
        y = np.where(diverged, floor, y)
    x = np.array([axis_coordinate(spec, r["params"][spec.axis], all_levels) for r in rows])
    blocks = _block_ids(spec, rows)
    seed = int(canonical_hash([metric, spec.hash], 8), 16)
    common = dict(alpha=alpha, n_permutations=permutations, seed=seed)
    if spec.contrast is None:
        kw: dict[str, Any] = {}
        if direction.startswith("non_"):
            kw["margin"] = spec.margin
        else:
            kw["threshold"] = spec.threshold
        res = trend.assess(x, y, direction, blocks=blocks, floor=0.0 if spec.normalized else None, **kw, **common)
    else:
        group = np.array([repr(r["params"][spec.contrast]) for r in rows])
        order = tuple(repr(v) for v in _contrast_order(rows, spec.contrast))
        res = trend.assess_contrast(x, y, group, direction, blocks=blocks, order=order, **common)
    stats = {k: _clean(v) for k, v in asdict(res).items()}
    stats.setdefault("slope", stats["statistic"])  # contrasts: the difference of slopes is the effect
    stats.update(n_diverged=int(diverged.sum()), diverged_floor=floor, normalized=spec.normalized,
                 unit="per doubling" if spec.scale == "log" else "per level step")
    if spec.law:
        stats["law"] = ({"error": "not fitted: runs that never reach the threshold are censored at the budget"}
                        if metric == STEPS_TO_THRESHOLD else _law(spec, raw, rows))
    return MetricVerdict(metric, direction, res.verdict, res.reason, stats)


def _law_x(spec: ClaimSpec, row: Mapping[str, Any]) -> float:
    key = LAW_X[spec.law]
    return float(row["params"][spec.axis] if key is None else row[key] or math.nan)


def _law(spec: ClaimSpec, raw: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The power law of the raw metric (diverged runs left out) against ``spec.law``, with its 95% t-interval
    over seeds. x values of one level that differ slightly between seeds (recorded env steps) are averaged
    per level, so every seed is fitted on the same x."""
    ok = np.isfinite(raw)
    by_level: dict[str, list[float]] = {}
    for r in rows:
        by_level.setdefault(r["level_id"], []).append(_law_x(spec, r))
    x = np.array([np.mean(by_level[r["level_id"]]) for r in rows])
    seeds = np.array([r["seed"] for r in rows])
    floor = spec.random_score if spec.random_score is not None else 0.0
    try:
        fit = scaling.fit_law(x[ok], raw[ok], seeds[ok], floor=floor)
    except ValueError as e:
        return {"x": spec.law, "error": str(e)}
    d = fit.to_dict()
    return {"x": spec.law, **{k: _clean_deep(v) for k, v in {**d.pop("law"), **d}.items()}}


def _clean_deep(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean_deep(u) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_deep(u) for u in v]
    return _clean(v)


def _assess_derived(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]],
                    alpha: float) -> MetricVerdict:
    """``derive="compute_optimal"``: the exponent of N*(C), per seed, with a t-test and (1 - 2 alpha) interval
    over seeds (see ClaimSpec.derive). Diverged runs have no return: they count as the worst (-inf)."""
    def optimal(rs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        v = np.array([r["metrics"].get(metric, math.nan) for r in rs], float)
        v = np.where(np.isfinite(v), v, -np.inf)
        return scaling.compute_optimal_sizes([r["params_count"] for r in rs], [r["flops"] for r in rs], v)

    seeds = sorted({r["seed"] for r in rows})
    per_seed, edge, n_budgets = [], 0, 0
    extremes = (min(r["params_count"] for r in rows), max(r["params_count"] for r in rows))
    for s in seeds:
        budgets, best = optimal([r for r in rows if r["seed"] == s])
        if len(budgets) >= 2:
            per_seed.append(scaling.fit_power_law(budgets, best).b)
            edge += int(np.isin(best, extremes).sum())
            n_budgets += len(budgets)
    # the pooled picture: mean metric per grid cell over seeds
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(r["level_id"], []).append(r)
    pooled = [{"params_count": float(np.mean([r["params_count"] for r in rs])),
               "flops": float(np.mean([r["flops"] for r in rs])),
               "metrics": {metric: float(np.mean([r["metrics"].get(metric) if r["metrics"].get(metric) is not None
                                                  else math.nan for r in rs]))}} for rs in cells.values()]
    budgets, best = optimal(pooled)
    level = 1 - 2 * alpha
    mean, lo, hi = scaling.t_interval(per_seed, level)
    sign = 1 if direction == "increasing" else -1
    n = len(per_seed)
    if n >= 2 and np.std(per_seed, ddof=1) > 0:
        t = mean / (np.std(per_seed, ddof=1) / math.sqrt(n))
        p, p_opp = float(student_t.sf(sign * t, n - 1)), float(student_t.sf(-sign * t, n - 1))
    else:
        p = p_opp = math.nan
    where = f"exponent of N*(C) {mean:+.3g}, {level:.0%} CI [{lo:+.3g}, {hi:+.3g}] over {n} seeds"
    if not (math.isfinite(p) and math.isfinite(p_opp)):
        verdict, reason = trend.INCONCLUSIVE, f"{where}: too few seeds with a fit, or no spread between them"
    elif p < alpha:
        verdict, reason = trend.REPRODUCED, f"{where}: the interval lies {'above' if sign > 0 else 'below'} 0"
    elif p_opp < alpha:
        verdict, reason = trend.CONTRADICTED, f"{where}: the interval lies {'below' if sign > 0 else 'above'} 0"
    else:
        verdict, reason = trend.INCONCLUSIVE, f"{where}: the interval includes 0"
    if n_budgets and edge / n_budgets > 0.5:
        reason += (f"; the smallest or largest size was optimal at {edge} of {n_budgets} seed-budgets, so the "
                   "grid may not bracket the optimum")
    stats = {"slope": mean, "ci_low": lo, "ci_high": hi, "p": p, "p_opposite": p_opp, "per_seed": per_seed,
             "level": level, "n": len(rows), "n_seeds": n, "budgets": budgets.tolist(), "optimal_size": best.tolist(),
             "law": ({"x": "flops", **asdict(scaling.fit_power_law(budgets, best))} if len(budgets) >= 2 else None),
             "unit": "exponent of N* in C", "derive": spec.derive, "over": spec.over}
    return MetricVerdict(metric, direction, verdict, reason, {k: _clean_deep(v) for k, v in stats.items()})


def _contrast_order(rows: list[dict[str, Any]], name: str) -> list[Any]:
    seen: list[Any] = []
    for r in rows:
        if r["params"][name] not in seen:
            seen.append(r["params"][name])
    return seen


def _block_ids(spec: ClaimSpec, rows: list[dict[str, Any]]) -> np.ndarray | None:
    if not spec.blocks:
        return None
    keys = [tuple(r["seed"] if b == "seed" else repr(r["params"][b]) for b in spec.blocks) for r in rows]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return np.array([index[k] for k in keys])


def _clean(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else (None if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, np.integer):
        return int(v)
    return v
