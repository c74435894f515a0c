"""The one function that turns records into verdicts.

A claim's design (harness/design.py, stored as ``results/<budget>/claims/<claim>.json`` when it runs) is its
full experiment at one budget: its spec, levels, seed shards and the key of every expected record.
``assess_claim(design, lookups)`` reads the records and
returns the claim's summary: per-seed metrics per level, and per metric the test, p, effect size with CI,
minimum detectable effect and verdict. The pytest verdict items and ``python -m harness verdict`` (the
DVC stage) both call it, so they cannot disagree. The statistics themselves live in ``harness.trend``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import kendalltau

from harness import power, scaling, trend
from harness.claim import (CURVE, ELO_METRICS, HEADROOM, LAW_X, LOWER_IS_BETTER, SENSITIVITY, STEPS_TO_THRESHOLD,
                           ClaimSpec, axis_coordinate, metric_value, slope_unit)
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
    """Problems that make a run unusable (the harness or the agent is broken), as messages; [] if fine. A metric
    the claim asks for but the run does not report is not one of them: see ``missing_metrics``."""
    problems = []
    members = result.get("members", [])
    got = [m["seed"] for m in members]
    if got != list(seeds):
        problems.append(f"the result has members with seeds {got}, expected {list(seeds)} (pass seeds to train)")
    for m in members:
        for metric in spec.metrics:
            v = m["metrics"].get(metric, 0.0)
            if (v is None or not math.isfinite(v)) and not m.get("diverged"):
                problems.append(f"seed {m['seed']}: metric {metric!r} is {v} but the member is not marked diverged "
                                "(an unreported NaN: the agent must set diverged=True and diverged_step)")
    return problems


def missing_metrics(spec: ClaimSpec, result: Mapping[str, Any]) -> list[str]:
    """The claim's metrics that the run's members do not report, as messages; [] if none. The run itself is
    sound (its record is kept): the claim asks for a metric its agent does not have, or the agent dropped one."""
    problems = []
    for m in result.get("members", []):
        for metric in spec.metrics:
            if metric not in m["metrics"] and not (metric == STEPS_TO_THRESHOLD and spec.reach is not None):
                problems.append(f"seed {m['seed']}: metric {metric!r} missing (reported: {sorted(m['metrics'])})")
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
                         "params_count": m.params.get("total"), "curve": [m.curve_steps, m.curve_returns],
                         **({"curve_flops": m.extra["curve_flops"]} if "curve_flops" in m.extra else {})})
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
    all_levels = [lv["value"] for lv in design["all_levels"]]
    absent = sorted({m for r in rows for m in spec.metrics if m not in r["metrics"]})
    if problems:
        reason = (f"{len(problems)} of {len(status)} units have no valid record "
                  f"({', '.join(sorted(set(problems.values())))}); run `pytest claims/test_{design['claim']}.py "
                  f"--budget {design['budget']}`")
        results = [MetricVerdict(m, d, trend.INCONCLUSIVE, reason) for m, d in spec.metrics.items()]
    elif absent:
        reported = sorted({m for r in rows for m in r["metrics"]})
        reason = (f"the records do not report {', '.join(absent)} (they report {', '.join(reported)}): correct the "
                  "claim marker's metrics; the records are reused")
        results = [MetricVerdict(m, d, trend.INCONCLUSIVE, reason) for m, d in spec.metrics.items()]
    elif design.get("plumbing_only"):
        results = [MetricVerdict(m, d, "PLUMBING", "smoke budget: plumbing checked, no verdict")
                   for m, d in spec.metrics.items()]
    else:
        results = judge(spec, rows, all_levels, alpha=alpha, permutations=permutations)
    judged = spec.conjunction and not problems and not absent and not design.get("plumbing_only")
    overall = _conjunction(results, spec, rows) if judged else None
    return {
        "format": SUMMARY_FORMAT, "claim": design["claim"], "budget": design["budget"], "doc": design["doc"],
        "spec": spec.to_dict(), "spec_hash": spec.hash, "levels": design["levels"], "all_levels": design["all_levels"],
        "seeds": design["seeds"], "alpha": alpha, "plumbing_only": bool(design.get("plumbing_only")),
        "units": [{**u, "status": status[u["path"]]} for u in design["units"]],
        "observations": rows,
        "metrics": [asdict(r) for r in results],
        "laws_beside": {m: _law(spec, m, np.array([r["metrics"].get(m, math.nan) for r in rows], dtype=float), rows)
                        for m in spec.law_beside} if not problems else {},
        "overall": overall,
        "provenance": _provenance(design, lookups),
    }


def carry_history(summary: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """What the report must say about the claim's past. ``first_spec_hash``: the spec when its records were
    first judged, so a spec edited after data existed is flagged. A new spec whose sweep shares no record with
    the previous summary replaced that design (a new pre-registration: its spec was fixed before its records):
    the flag starts afresh and ``previous_design`` keeps the replaced spec and its verdicts for the report. The
    same spec judged on new records (the code changed, so every run was recomputed) is no redesign."""
    if previous is None:
        summary["first_spec_hash"] = summary["spec_hash"]
        return
    shared = {u["key"] for u in previous.get("units", ())} & {u["key"] for u in summary["units"]}
    if shared or previous.get("spec_hash") == summary["spec_hash"]:
        summary["first_spec_hash"] = previous.get("first_spec_hash") or summary["spec_hash"]
        if previous.get("previous_design"):
            summary["previous_design"] = previous["previous_design"]
        return
    summary["first_spec_hash"] = summary["spec_hash"]
    summary["previous_design"] = {
        "spec_hash": previous.get("spec_hash"),
        "newest_record": (previous.get("provenance") or {}).get("newest_record"),
        "verdicts": {m["metric"]: m["verdict"] for m in previous.get("metrics", ())}}


def judge(spec: ClaimSpec, rows: list[dict[str, Any]], all_levels: Sequence[Any], *, alpha: float,
          permutations: int = 9999) -> list[MetricVerdict]:
    """Every metric's verdict from the per-seed observations (``_observations``; a summary's ``observations``)."""
    controls = {repr(c) for c in spec.controls or ()}
    trend_rows = [r for r in rows if repr(r["params"][spec.axis]) not in controls]
    levels = [v for v in all_levels if repr(v) not in controls]
    if spec.derive:
        return [_assess_derived(spec, m, d, rows, alpha, permutations) for m, d in spec.metrics.items()]
    if spec.per_block:
        return [_assess_per_block(spec, m, d, trend_rows, levels, alpha, permutations) for m, d in spec.metrics.items()]
    return [_assess_metric(spec, m, d, trend_rows, levels, alpha, permutations) for m, d in spec.metrics.items()]


def _assess_per_block(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]],
                      all_levels: Sequence[Any], alpha: float, permutations: int) -> MetricVerdict:
    """A claim "on some blocks" (ClaimSpec.per_block): each value of the argument judged alone (its own test and
    gates, ``_assess_metric``), the values combined by ``trend.on_some_blocks`` (Holm over the values). The stats
    are those of the deciding value (the REPRODUCED one with the smallest adjusted p; for CONTRADICTED the one
    with the largest p; else the smallest adjusted p), with ``p`` the Holm-adjusted p, ``p_opposite`` the
    largest of the values' (the intersection-union test's) and every value's verdict under ``per_block``."""
    name = spec.per_block
    values = list(dict.fromkeys(repr(r["params"][name]) for r in rows))
    raw = {repr(r["params"][name]): r["params"][name] for r in rows}
    parts = [_assess_metric(spec.for_block(raw[v]), metric, direction,
                            [r for r in rows if repr(r["params"][name]) == v], all_levels, alpha, permutations)
             for v in values]
    p = [1.0 if r.stats.get("p") is None else r.stats["p"] for r in parts]
    p_opp = [1.0 if r.stats.get("p_opposite") is None else r.stats["p_opposite"] for r in parts]
    verdict, adj = trend.on_some_blocks([r.verdict for r in parts], p, alpha)
    held = [i for i, r in enumerate(parts) if r.verdict == trend.REPRODUCED and adj[i] < alpha]
    label = [f"{name}={v}" for v in values]
    if len(parts) == 1:  # one value: its own verdict, no family to adjust over
        reason = f"judged on {label[0]} alone: {parts[0].reason}"
        i = 0
    elif verdict == trend.REPRODUCED:
        i = min(held, key=lambda j: adj[j])
        reason = (f"REPRODUCED on {len(held)} of {len(parts)} values of {name} ({', '.join(label[j] for j in held)}) "
                  f"at Holm-adjusted p < {alpha:g}; {label[i]}: {parts[i].reason}")
    elif verdict == trend.CONTRADICTED:
        i = int(np.argmax(p_opp))
        reason = f"CONTRADICTED on every value of {name} (the largest p {p_opp[i]:.3g}, {label[i]}): {parts[i].reason}"
    else:
        i = int(np.argmin(adj))
        reason = (f"no value of {name} shows the trend at Holm-adjusted p < {alpha:g} over its {len(parts)} values "
                  f"(the smallest, {label[i]}: {adj[i]:.3g}; {label[i]}: {parts[i].reason})")
    every_gated = all((r.stats.get("gates") or {}).get("failed") for r in parts)
    stats = {**parts[i].stats, "p": float(adj[i]), "p_unadjusted": p[i], "p_opposite": max(p_opp),
             "block": values[i], "gates": parts[i].stats["gates"] if every_gated else {"failed": None, "reason": ""},
             "per_block": [{**r.stats, "value": v, "verdict": r.verdict, "reason": r.reason, "p_holm": float(a)}
                           for v, r, a in zip(values, parts, adj)]}
    return MetricVerdict(metric, direction, verdict, reason, stats)


def _conjunction(results: list[MetricVerdict], spec: ClaimSpec, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Several metrics as one claim: REPRODUCED only if every one is, CONTRADICTED if any is; its p is the
    largest of its components' decision p (a union-intersection test), so it enters the BH family once.

    ``agreement``: per pair of metrics, Kendall's tau-b between them over the runs, each metric oriented so
    that the claimed direction is up. Near 1 the metrics rank the runs alike (one event seen twice, as a
    model that takes off both ends higher and gets there sooner): the conjunction is then little stronger
    evidence than its weakest metric, which the report says."""
    verdict = trend.combine([r.verdict for r in results])
    ps = [r.stats.get("p_opposite" if r.verdict == trend.CONTRADICTED else "p") for r in results]
    p = max(ps) if all(v is not None for v in ps) else None
    agreement = []
    for a, b in itertools.combinations(spec.metrics, 2):
        x, y = (np.array([_oriented(spec, m, r["metrics"].get(m, math.nan)) for r in rows]) for m in (a, b))
        ok = np.isfinite(x) & np.isfinite(y)
        tau = float(kendalltau(x[ok], y[ok]).statistic) if ok.sum() >= 2 else math.nan
        agreement.append({"metrics": [a, b], "tau_b": None if math.isnan(tau) else tau, "runs": int(ok.sum())})
    return {"verdict": verdict, "p": p, "metrics": [r.metric for r in results],
            "gated": any((r.stats.get("gates") or {}).get("failed") for r in results), "agreement": agreement}


def _oriented(spec: ClaimSpec, metric: str, value: float) -> float:
    """``value`` signed so that the claimed direction of ``metric`` is up."""
    return -value if spec.metrics[metric] in ("decreasing", "non_increasing") else value


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
            "devices": sorted({str(r.device) for r in recs}),
            "precisions": sorted({str(r.config.get("precision", "fp32")) for r in recs}),  # agents without: fp32
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
    if diverged.any():  # the worst score: the smallest for higher-is-better metrics, the largest otherwise
        worse = max if metric in LOWER_IS_BETTER else min
        candidates = list(y[~diverged]) + ([0.0] if spec.normalized else [])
        floor = float(worse(candidates)) if candidates else 0.0
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
    unit = slope_unit(spec.scale)
    stats.update(n_diverged=int(diverged.sum()), diverged_floor=floor, normalized=spec.normalized, unit=unit,
                 s_raw=_clean(trend.kendall_s(x, y, blocks)) if spec.contrast is None else stats.get("kendall_s"),
                 ci_level=1 - 2 * alpha)
    ties = _ties(metric, raw, rows)
    if ties:
        stats["ties"] = ties
    verdict, reason = res.verdict, res.reason.replace("per unit x", unit)
    gates = (_gates(spec, metric, direction, rows, y, x) if spec.contrast is None else
             _contrast_gates(spec, metric, direction, rows, y, x, group, order))
    stats["gates"] = gates
    stats["ungated_verdict"] = verdict
    if gates["reason"] and (gates["failed"] != "sensitivity" or verdict == trend.REPRODUCED):
        reason = f"{gates['reason']} (without the gate: {verdict}: {reason})"
        verdict = trend.INCONCLUSIVE
    effect = metric_value(spec.paper_effect, metric)
    stats["paper_effect"] = effect
    if isinstance(effect, float) and isinstance(stats.get("mde"), float):
        # the MDE is measured beyond the boundary the test must clear (threshold or margin): so is the paper's
        distance = power.effect_distance(direction, effect, spec.threshold, spec.margin)
        stats["paper_effect_beyond_boundary"] = distance
        if distance > 0:
            stats["mde_over_paper_effect"] = stats["mde"] / distance
            stats["underpowered"] = verdict == trend.INCONCLUSIVE and stats["mde"] > distance
    if spec.law:
        if metric == STEPS_TO_THRESHOLD:
            stats["law"] = {"error": "not fitted: runs that never reach the threshold are censored at the budget"}
        elif ties:
            stats["law"] = {"error": f"not fitted: {ties['reason']}"}
        elif floor is not None:
            stats["law"] = {"error": "not fitted: diverged runs are clipped at the floor"}
        else:
            stats["law"] = _law(spec, metric, raw, rows)
    return MetricVerdict(metric, direction, verdict, reason, stats)


def _ties(metric: str, raw: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """When more than half of a metric's values are one tied value or censored: the CI and any law of such a
    metric say little (the verdict's permutation test still holds), so the report draws neither."""
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        return None
    values, counts = np.unique(finite, return_counts=True)
    share, value = float(counts.max() / raw.size), float(values[counts.argmax()])
    if metric == STEPS_TO_THRESHOLD:
        censored = float(np.mean(raw == raw.max()))
        if censored > 0.5 and value == raw.max():
            return {"share": censored, "value": value, "reason": f"{censored:.0%} of the runs never reached the "
                    f"threshold (censored at {value:g})"}
    if share > 0.5:
        return {"share": share, "value": value, "reason": f"{share:.0%} of the values are tied at {value:g}"}
    return None


def _gates(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]], y: np.ndarray,
           x: np.ndarray) -> dict[str, Any]:
    """The pre-registered gates of one claim metric (ClaimSpec.learned, ceiling; claim.SENSITIVITY):

    - learning: per level, the fraction of the way from its baseline to the anchor it got (mean over seeds;
      the baseline of a run is the larger of the random score and the untrained policy's score; the anchor
      is reference_score, else the ceiling). A strict claim needs one level at ``learned`` or more, a
      "no gain" claim its reference (smallest) level. For ``steps_to_threshold``: the share of runs that
      reached ``reach`` (at least half).
    - headroom: the smallest level's room below the ceiling (or, for a claimed loss, above its baseline).
    - sensitivity (non_* only): the margin must be at most SENSITIVITY x the reference level's learning.

    ``failed`` names the first gate that failed and ``reason`` says why (None when all passed or none
    applies). Learning and headroom make any verdict INCONCLUSIVE; sensitivity only a REPRODUCED one."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0  # goodness = sign * y
    levels = sorted({xi for xi in x})
    by_level = [np.flatnonzero(x == lv) for lv in levels]
    lid = [rows[i[0]]["level_id"] for i in by_level]
    ceiling = metric_value(spec.ceiling, metric)
    ceiling_n = None if ceiling is None else float(spec.normalize(np.array([ceiling]))[0])
    anchor = 1.0 if spec.normalized else ceiling_n
    base = np.array([_baseline(spec, metric, r) for r in rows], dtype=float)
    out: dict[str, Any] = {"learned_gate": spec.learned, "levels": {}, "reason": None, "failed": None}
    gain_claim = (direction in ("increasing", "non_increasing")) == (sign > 0)
    if metric == STEPS_TO_THRESHOLD:
        curves = [r.get("curve") for r in rows]  # censored at the claim's largest evaluated step + 1
        censored_at = (max(max(c[0], default=0) for c in curves) + 1.0) if all(curves) else float(np.max(y))
        reached = [float(np.mean(y[i] < censored_at)) for i in by_level]
        for name, r in zip(lid, reached):
            out["levels"][name] = {"reached": r, "learned": r >= 0.5}
        progress = reached
        gate = 0.5
        base = np.full_like(y, censored_at)
    elif anchor is None or not np.all(np.isfinite(base)):
        out["learning"] = ("not applied: " + ("no anchor (give reference_score or ceiling)" if anchor is None else
                           "no baseline (the records hold no untrained score and the claim no random_score)"))
        progress = None
        gate = spec.learned
    else:
        progress = []
        for name, i in zip(lid, by_level):
            b = float(np.mean(base[i]))
            span = sign * (anchor - b)
            prog = float(sign * (np.mean(y[i]) - b) / span) if span > 0 else math.nan
            out["levels"][name] = {"baseline": b, "mean": float(np.mean(y[i])), "progress": prog,
                                   "learned": bool(prog >= spec.learned)}
            progress.append(prog)
        gate = spec.learned
    if progress is not None:
        strict = not direction.startswith("non_")
        best = max(progress) if strict else progress[0]
        passed = best >= gate
        what = "best level" if strict else f"reference level ({lid[0]})"
        unit = "of its runs reached the threshold" if metric == STEPS_TO_THRESHOLD else \
            "of the way from its baseline to the anchor"
        out["learning"] = f"{what}: {best:.2f} {unit} (gate {gate:g})"
        if not passed:
            out["reason"] = f"did not learn: the {what} got {best:.2f} {unit}; gate {gate:g}"
            out["failed"] = "learning"
            return out
    if ceiling_n is not None and not np.all(np.isfinite(base)):
        out["headroom"] = "not applied: no baseline (no untrained score recorded and no random_score)"
    elif ceiling_n is not None:
        i0 = by_level[0]
        g0, b0, c = sign * float(np.mean(y[i0])), sign * float(np.mean(base[i0])), sign * ceiling_n
        if c - b0 > 0:
            room = (c - g0) / (c - b0) if gain_claim else (g0 - b0) / (c - b0)
            out["headroom"] = {"room": room, "tolerance": HEADROOM, "of": "below the ceiling" if gain_claim else
                               "above the baseline"}
            if room < HEADROOM:
                out["reason"] = (f"no headroom: the smallest level ({lid[0]}) is {max(room, 0):.2f} of the way "
                                 + ("from the ceiling to its baseline, so it cannot gain" if gain_claim else
                                    "from its baseline to the ceiling, so it has nothing to lose")
                                 + f" (tolerance {HEADROOM:g})")
                out["failed"] = "headroom"
                return out
    else:
        out["headroom"] = "not applied: no ceiling given"
    if direction.startswith("non_") and progress is not None and metric != STEPS_TO_THRESHOLD:
        i0 = by_level[0]
        learnt = sign * (float(np.mean(y[i0])) - float(np.mean(base[i0])))
        out["sensitivity"] = {"margin": spec.margin, "reference_learning": learnt, "fraction": SENSITIVITY}
        if spec.margin > SENSITIVITY * learnt:
            out["reason"] = (f"insensitive design: the margin {spec.margin:g} per step of the axis is more than "
                             f"{SENSITIVITY:g} x what the reference level learned ({learnt:.3g}), so a real gain "
                             "of that size would pass as no gain")
            out["failed"] = "sensitivity"
    return out


def _contrast_gates(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]], y: np.ndarray,
                    x: np.ndarray, group: np.ndarray, order: Sequence[str]) -> dict[str, Any]:
    """The gates of a contrast claim, arm by arm: a difference of slopes says nothing about an arm that did not
    learn (or had no headroom), however well the other did, so every arm must pass ``_gates`` on its own.
    ``levels`` holds every arm's levels (their ids name the arm); ``failed`` and ``reason`` are those of the
    first arm, in the claim's order, that failed."""
    out: dict[str, Any] = {"learned_gate": spec.learned, "levels": {}, "arms": {}, "reason": None, "failed": None}
    for arm in order:
        i = np.flatnonzero(group == arm)
        name = f"{spec.contrast}={rows[i[0]]['params'][spec.contrast]}"
        g = _gates(spec, metric, direction, [rows[j] for j in i], y[i], x[i])
        out["levels"].update(g.pop("levels"))
        out["arms"][name] = g
        if g["failed"] and not out["failed"]:
            out["failed"], out["reason"] = g["failed"], f"the {name} arm: {g['reason']}"
    learning = [f"{name}: {g['learning']}" for name, g in out["arms"].items() if "learning" in g]
    if learning:
        out["learning"] = "; ".join(learning)
    return out


def _baseline(spec: ClaimSpec, metric: str, row: Mapping[str, Any]) -> float:
    """A run's baseline on the claim's scale: the larger of the random score and its untrained score."""
    initial = (row.get("initial") or {}).get(metric)
    values = [v for v in (initial, spec.random_score) if v is not None and math.isfinite(v)]
    if not values:
        return math.nan
    return float(spec.normalize(np.array([max(values)]))[0])


def _law_x(spec: ClaimSpec, row: Mapping[str, Any]) -> float:
    key = LAW_X[spec.law]
    return float(row["params"][spec.axis] if key is None else row[key] or math.nan)


def _law(spec: ClaimSpec, metric: str, raw: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The power law of the raw metric (diverged runs left out) against ``spec.law``, with its 95% t-interval
    over seeds; for an Elo metric, of its playing strength 10^(elo/400) with floor 0 (``of`` names what was
    fitted). x values of one level that differ slightly between seeds (recorded env steps) are averaged
    per level, so every seed is fitted on the same x."""
    ok = np.isfinite(raw)
    by_level: dict[str, list[float]] = {}
    for r in rows:
        by_level.setdefault(r["level_id"], []).append(_law_x(spec, r))
    x = np.array([np.mean(by_level[r["level_id"]]) for r in rows])
    seeds = np.array([r["seed"] for r in rows])
    floor = spec.random_score if spec.random_score is not None else 0.0
    of = metric
    if metric in ELO_METRICS:
        raw, floor, of = scaling.elo_strength(raw), 0.0, f"10^({metric}/400)"
    clipped = int(np.sum(raw[ok] <= floor))
    if clipped:
        return {"x": spec.law, "error": f"not fitted: {clipped} of {int(ok.sum())} runs are at or below the floor "
                f"{floor:g} (the random score, or 0), where a power law of metric - floor has no logarithm"}
    try:
        fit = scaling.fit_law(x[ok], raw[ok], seeds[ok], floor=floor)
    except ValueError as e:
        return {"x": spec.law, "error": str(e)}
    d = fit.to_dict()
    return {"x": spec.law, "of": of, **{k: _clean_deep(v) for k, v in {**d.pop("law"), **d}.items()}}


def _clean_deep(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean_deep(u) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_deep(u) for u in v]
    return _clean(v)


def _assess_derived(spec: ClaimSpec, metric: str, direction: str, rows: list[dict[str, Any]],
                    alpha: float, permutations: int = 9999) -> MetricVerdict:
    """``derive="compute_optimal"``: the compute-optimal size N*(C) per seed at each compute budget that every
    size covers (harness.scaling.compute_optimal_sizes), then the same blocked permutation test of Kendall's
    S as every other claim, between log2 C and log2 N*(C) within seeds: an optimum chosen from a few sizes
    is discrete and often tied, which a rank test handles and a t-test over per-seed exponents does not.
    The effect is Sen's slope of log2 N* per doubling of C (the exponent e of N* ~ C ** e) with the interval
    of the inverted test. When the smallest or largest size is optimal at more than half of the seed-budgets
    the grid does not bracket the optimum and the metric is INCONCLUSIVE whatever the test says. Diverged
    runs have no return: they count as the worst (-inf). With ``over=CURVE`` the cells are the points of
    each run's learning curve after its first (untrained) one, at their recorded FLOPs."""
    if spec.over == CURVE:
        missing = sorted({r["level_id"] for r in rows if not r.get("curve_flops")
                          or len(r["curve_flops"]) != len(r["curve"][1])})
        if missing:
            raise ValueError(f"claim over={CURVE!r} needs records whose members give extra['curve_flops'], the FLOPs "
                             f"at each point of the learning curve; {', '.join(missing)} do not (an agent that does "
                             "not record them cannot read budgets off its curves: use a grid over budgets instead)")

    def cells(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if spec.over != CURVE:
            return rs
        return [{"params_count": r["params_count"], "flops": f, "metrics": {metric: v}} for r in rs
                for f, v in zip(r["curve_flops"][1:], r["curve"][1][1:]) if f is not None and math.isfinite(f)]

    def optimal(rs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        rs = cells(rs)
        v = np.array([r["metrics"].get(metric, math.nan) for r in rs], float)
        v = np.where(np.isfinite(v), v, -np.inf)
        return scaling.compute_optimal_sizes([r["params_count"] for r in rs], [r["flops"] for r in rs], v)

    seeds = sorted({r["seed"] for r in rows})
    extremes = (min(r["params_count"] for r in rows), max(r["params_count"] for r in rows))
    xs, ys, bs, per_seed, edge = [], [], [], {}, 0
    for s in seeds:
        budgets, best = optimal([r for r in rows if r["seed"] == s])
        per_seed[s] = {"budgets": budgets.tolist(), "optimal_size": best.tolist()}
        xs += np.log2(budgets).tolist()
        ys += np.log2(best).tolist()
        bs += [s] * len(budgets)
        edge += int(np.isin(best, extremes).sum())
    n = len(xs)
    # the pooled picture: mean metric per grid cell over seeds
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cell.setdefault(r["level_id"], []).append(r)
    pooled = [{"params_count": float(np.mean([r["params_count"] for r in rs])),
               "flops": float(np.mean([r["flops"] for r in rs])),
               "metrics": {metric: float(np.mean([r["metrics"].get(metric) if r["metrics"].get(metric) is not None
                                                  else math.nan for r in rs]))}} for rs in by_cell.values()]
    if spec.over == CURVE:  # the mean curve of each size (its seeds' evaluations are at the same games)
        for p, rs in zip(pooled, by_cell.values()):
            k = min(len(r["curve_flops"]) for r in rs)
            p["curve_flops"] = np.mean([np.array(r["curve_flops"][:k], float) for r in rs], 0).tolist()
            p["curve"] = [None, np.mean([np.array(r["curve"][1][:k], float) for r in rs], 0).tolist()]
    budgets, best = optimal(pooled)
    stats: dict[str, Any] = {"unit": "exponent of N* in C (log2 N* per doubling of C)", "derive": spec.derive,
                             "over": spec.over, "n": n, "n_seeds": len(seeds), "per_seed": per_seed,
                             "edge": edge, "budgets": budgets.tolist(), "optimal_size": best.tolist(),
                             "law": ({"x": "flops", **asdict(scaling.fit_power_law(budgets, best))}
                                     if len(budgets) >= 2 else None),
                             "ci_level": 1 - 2 * alpha, "paper_effect": metric_value(spec.paper_effect, metric)}
    cell = {lid: i for i, lid in enumerate(dict.fromkeys(r["level_id"] for r in rows))}
    raw = spec.normalize(np.array([r["metrics"].get(metric, math.nan) for r in rows], dtype=float))
    finite = raw[np.isfinite(raw)]
    y = np.where(np.isfinite(raw), raw, finite.min() if finite.size else 0.0)
    gates = _gates(spec, metric, "increasing", rows, y, np.array([cell[r["level_id"]] for r in rows], float))
    stats["gates"] = {k: v for k, v in gates.items() if k != "levels"}  # per grid cell: too many to show
    if gates["failed"] == "learning":
        return MetricVerdict(metric, direction, trend.INCONCLUSIVE, gates["reason"].replace("level", "grid cell"),
                             _clean_deep(stats))
    if n < 4 or len(set(xs)) < 2:
        return MetricVerdict(metric, direction, trend.INCONCLUSIVE,
                             "too few compute budgets that every size covers to test N*(C)", _clean_deep(stats))
    seed = int(canonical_hash([metric, spec.hash], 8), 16)
    res = trend.assess(np.array(xs), np.array(ys), direction, blocks=np.array(bs), alpha=alpha,
                       n_permutations=permutations, seed=seed)
    stats.update({k: _clean(v) for k, v in asdict(res).items()})
    stats["s_raw"] = stats["statistic"]
    why = res.reason.replace("per unit x", "per doubling of C")
    sizes, counts = np.unique(np.array(ys), return_counts=True)
    mode = f"{2 ** float(sizes[np.argmax(counts)]):.0f} parameters at {int(counts.max())} of {n} seed-budgets"
    verdict, reason = res.verdict, f"N*(C) (most often {mode}): {why}"
    if edge / n > 0.5:
        stats["gates"] = {"failed": "bracket", "reason": f"the smallest or largest size was optimal at {edge} of "
                          f"{n} seed-budgets"}
        reason = (f"the grid does not bracket the optimum: the smallest or largest size was optimal at {edge} of "
                  f"{n} seed-budgets (without this gate: {verdict}: {why})")
        verdict = trend.INCONCLUSIVE
    return MetricVerdict(metric, direction, verdict, reason, _clean_deep(stats))


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
