"""Claim specs, claim designs and the one function that turns records into verdicts.

``ClaimSpec`` is the validated ``@pytest.mark.claim(...)`` marker. ``design`` (a dict, stored as
``results/<budget>/<claim>/design.json``) is the claim's full experiment at one budget: its spec, levels,
seed shards and the key of every expected record. ``assess_claim(design, lookups)`` reads the records and
returns the claim's summary: per-seed metrics per level, and per metric the test, p, effect size with CI,
minimum detectable effect and verdict. The pytest verdict items and ``python -m harness verdict`` (the
DVC stage) both call it, so they cannot disagree. The statistics themselves live in ``harness.trend``.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

from harness import scaling, trend
from harness.records import Lookup, canonical_hash

STEPS_TO_THRESHOLD = "steps_to_threshold"  # a metric the verdict computes from the curves (see ClaimSpec.reach)

SCALES = ("log", "ordinal")
LAW_X = {"axis": None, "env_steps": "env_steps", "params": "params_count", "flops": "flops"}
"""What a fitted law is a function of: the axis value, or a quantity recorded per run."""
DERIVED = ("compute_optimal",)
SUMMARY_FORMAT = 1


class ClaimSpecError(ValueError):
    """The claim marker is invalid; the message says how to fix it."""


@dataclass(frozen=True)
class ClaimSpec:
    """Everything that decides a claim's verdict, fixed before running (the ``claim`` marker)."""

    axis: str
    """The parametrized argument that is the scaling axis."""
    metrics: dict[str, str]
    """metric name -> direction (increasing | decreasing | non_increasing | non_decreasing)."""
    margin: float = 0.0
    """For non_* directions: the largest change per doubling (per level for ordinal axes) that still counts
    as "no gain"; in normalized units when reference scores are given."""
    threshold: float = 0.0
    """For strict directions: the smallest change per doubling that counts as a trend (0: any)."""
    blocks: tuple[str, ...] = ()
    """What pairs observations across levels: "seed" and/or parametrized arguments (e.g. a task)."""
    random_score: float | None = None
    """Score of a uniformly random policy: normalized score 0 (and the floor for diverged runs)."""
    reference_score: float | None = None
    """Score of the validated agent at a known budget: normalized score 1."""
    scale: str = "log"
    """"log": levels are magnitudes, slopes are per doubling; "ordinal": slopes are per step of the list."""
    contrast: str | None = None
    """For interaction claims: a parametrized argument with two values (A, B in declared order); the
    claim is about slope(B) - slope(A) along the axis."""
    conjunction: bool = False
    """Several metrics stated as one claim: REPRODUCED only if every metric is, CONTRADICTED if any is."""
    law: str | None = None
    """Also fit a power law ``metric - random_score = a * x ** b`` per seed and report its exponent with a
    t-interval over seeds (harness.scaling): x is "axis", "env_steps", "params" or "flops". Reported beside
    the verdict; it does not change it."""
    derive: str | None = None
    """A two-axis claim judged on a quantity derived from the whole grid, not on a trend along ``axis``.
    "compute_optimal": over a grid of model sizes (``axis``) x budgets (``over``), the compute-optimal
    size N*(C) (recorded parameter counts and training FLOPs) is found at log-spaced compute budgets and
    ``N* ~ C ** e`` is fitted per seed; the metric's direction names the claimed sign of e, and the verdict
    is REPRODUCED when the (1 - 2 alpha) t-interval of e over seeds lies on the claimed side of 0,
    CONTRADICTED when it lies on the other side, INCONCLUSIVE otherwise."""
    over: str | None = None
    """For ``derive``: the second parametrized argument of the grid (e.g. the env-step budget)."""
    controls: tuple[Any, ...] | None = None
    """Axis levels that are run and shown (a negative control, say) but left out of the trend test."""
    reach: float | None = None
    """For the metric ``steps_to_threshold`` (data efficiency): the evaluation return that counts as reaching
    the task. The verdict computes it per member from the learning curve (``steps_to_threshold``):
    the env steps of the first evaluation at or above ``reach``; a run that never gets there is censored at
    the claim's env-step budget + 1 and ranks last."""

    FIELDS = ("axis", "metrics", "margin", "threshold", "blocks", "random_score", "reference_score", "scale",
              "contrast", "conjunction", "law", "derive", "over", "controls", "reach")
    OPTIONAL = ("law", "derive", "over", "controls", "reach")
    """Fields left out of ``to_dict`` (and so of the spec hash) while unset: specs that predate them keep
    their hash, and their records stay valid."""

    @classmethod
    def from_marker(cls, args: Sequence[Any], kwargs: Mapping[str, Any], where: str = "") -> "ClaimSpec":
        at = f"{where}: " if where else ""
        if args:
            raise ClaimSpecError(f"{at}the claim marker takes keyword arguments only, e.g. "
                                 "@pytest.mark.claim(axis='width', metrics={'auc_return': 'increasing'})")
        unknown = set(kwargs) - set(cls.FIELDS)
        if unknown:
            raise ClaimSpecError(f"{at}unknown claim marker argument(s) {sorted(unknown)}; valid: {', '.join(cls.FIELDS)}")
        for req in ("axis", "metrics"):
            if req not in kwargs:
                raise ClaimSpecError(f"{at}the claim marker needs `{req}=`")
        axis, metrics = kwargs["axis"], kwargs["metrics"]
        if not isinstance(axis, str) or not axis:
            raise ClaimSpecError(f"{at}axis must be the name of a parametrized argument, got {axis!r}")
        if not isinstance(metrics, Mapping) or not metrics:
            raise ClaimSpecError(f"{at}metrics must map metric name -> direction, e.g. {{'auc_return': 'increasing'}}")
        for m, d in metrics.items():
            if d not in trend.DIRECTIONS:
                raise ClaimSpecError(f"{at}metric {m!r} has direction {d!r}; use one of {', '.join(trend.DIRECTIONS)}")
        blocks = kwargs.get("blocks") or ()
        blocks = (blocks,) if isinstance(blocks, str) else tuple(blocks)
        spec = cls(axis=axis, metrics=dict(metrics), margin=float(kwargs.get("margin", 0.0)),
                   threshold=float(kwargs.get("threshold", 0.0)), blocks=blocks,
                   random_score=_opt_float(kwargs.get("random_score")),
                   reference_score=_opt_float(kwargs.get("reference_score")),
                   scale=kwargs.get("scale", "log"), contrast=kwargs.get("contrast"),
                   conjunction=bool(kwargs.get("conjunction", False)), law=kwargs.get("law"),
                   derive=kwargs.get("derive"), over=kwargs.get("over"),
                   controls=tuple(kwargs["controls"]) if kwargs.get("controls") is not None else None,
                   reach=_opt_float(kwargs.get("reach")))
        spec._check(at)
        return spec

    def _check(self, at: str) -> None:
        strict = [m for m, d in self.metrics.items() if d in ("increasing", "decreasing")]
        loose = [m for m in self.metrics if m not in strict]
        if self.margin < 0 or self.threshold < 0:
            raise ClaimSpecError(f"{at}margin and threshold are magnitudes per doubling and must be >= 0")
        if self.margin and not loose:
            raise ClaimSpecError(f"{at}margin applies to non_increasing/non_decreasing metrics only; use threshold= "
                                 "for the smallest trend that counts in an increasing/decreasing claim")
        if self.threshold and not strict:
            raise ClaimSpecError(f"{at}threshold applies to increasing/decreasing metrics only; use margin= for "
                                 "the largest change that still counts as no gain")
        if (self.random_score is None) != (self.reference_score is None):
            raise ClaimSpecError(f"{at}give both random_score and reference_score (to normalize scores) or neither")
        if self.random_score is not None and self.random_score == self.reference_score:
            raise ClaimSpecError(f"{at}reference_score must differ from random_score")
        if self.scale not in SCALES:
            raise ClaimSpecError(f"{at}scale must be 'log' (levels are magnitudes) or 'ordinal', got {self.scale!r}")
        if self.contrast is not None:
            if self.contrast == self.axis:
                raise ClaimSpecError(f"{at}contrast must name a parametrized argument other than the axis")
            if loose:
                raise ClaimSpecError(f"{at}a contrast claim tests a difference of slopes: use increasing/decreasing "
                                     f"directions (not {', '.join(self.metrics[m] for m in loose)})")
            if self.margin or self.threshold:
                raise ClaimSpecError(f"{at}margin/threshold are not supported for contrast claims")
        if self.law is not None and self.law not in LAW_X:
            raise ClaimSpecError(f"{at}law={self.law!r}: fit the law against one of {', '.join(LAW_X)}")
        if self.law is not None and self.law == "axis" and self.scale != "log":
            raise ClaimSpecError(f"{at}law='axis' needs scale='log' (a power law of magnitudes)")
        if self.derive is not None:
            if self.derive not in DERIVED:
                raise ClaimSpecError(f"{at}derive={self.derive!r} is unknown; known: {', '.join(DERIVED)}")
            if not self.over or self.over == self.axis:
                raise ClaimSpecError(f"{at}derive={self.derive!r} needs over= naming the grid's second parametrized "
                                     f"argument (not the axis {self.axis!r}), e.g. over='steps'")
            if loose or self.contrast or self.margin or self.threshold or self.law:
                raise ClaimSpecError(f"{at}a derived claim states the sign of an exponent: use increasing/decreasing "
                                     "directions, without contrast, margin, threshold or law")
        elif self.over is not None:
            raise ClaimSpecError(f"{at}over= is only used with derive=")
        if (STEPS_TO_THRESHOLD in self.metrics) != (self.reach is not None):
            raise ClaimSpecError(f"{at}the metric {STEPS_TO_THRESHOLD!r} and reach= (the return that counts as "
                                 "reaching the task, fixed before running) go together: give both or neither")
        if self.reach is not None and self.normalized:
            raise ClaimSpecError(f"{at}{STEPS_TO_THRESHOLD!r} counts env steps and is not normalized: drop "
                                 "random_score/reference_score from this claim")
        if self.controls is not None and (self.derive or self.contrast):
            raise ClaimSpecError(f"{at}controls= (axis levels run and shown but left out of the trend) is not "
                                 "supported with derive= or contrast=")

    def check_parametrized(self, argnames: Sequence[str], levels: Sequence[Any], where: str = "",
                           contrast_values: Sequence[Any] | None = None) -> None:
        """Validate the spec against the claim function's parametrization."""
        at = f"{where}: " if where else ""
        for name, what in [(self.axis, "axis"), *[(b, "blocks") for b in self.blocks if b != "seed"],
                           *([(self.contrast, "contrast")] if self.contrast else []),
                           *([(self.over, "over")] if self.over else [])]:
            if name not in argnames:
                raise ClaimSpecError(f"{at}{what}={name!r} is not a parametrized argument; add "
                                     f"@pytest.mark.parametrize({name!r}, [...]) or name one of: "
                                     f"{', '.join(argnames) or '(none parametrized)'}")
        unknown = [c for c in self.controls or () if repr(c) not in map(repr, levels)]
        if unknown:
            raise ClaimSpecError(f"{at}controls={list(unknown)} are not levels of the axis {self.axis!r} "
                                 f"({list(levels)}); a control must also be one of its parametrized values")
        if len(set(map(repr, levels)) - set(map(repr, self.controls or ()))) < 2:
            raise ClaimSpecError(f"{at}the axis {self.axis!r} needs at least 2 distinct levels outside controls=")
        if self.scale == "log" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                           for v in levels):
            raise ClaimSpecError(f"{at}scale='log' needs positive numeric levels, got {list(levels)}; use "
                                 "scale='ordinal' for levels that are not magnitudes")
        if self.contrast and (contrast_values is None or len(contrast_values) != 2):
            raise ClaimSpecError(f"{at}contrast={self.contrast!r} must have exactly 2 values, got {contrast_values}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if not (k in self.OPTIONAL and v is None)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ClaimSpec":
        return cls.from_marker((), {k: v for k, v in d.items()})

    @property
    def hash(self) -> str:
        return canonical_hash(self.to_dict())

    @property
    def normalized(self) -> bool:
        return self.random_score is not None

    def normalize(self, y: np.ndarray) -> np.ndarray:
        if not self.normalized:
            return y
        return (y - self.random_score) / (self.reference_score - self.random_score)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


DOC_LABELS = ("source", "departures", "pilot")  # the labelled paragraphs of a claim docstring


def parse_docstring(doc: str | None) -> dict[str, str]:
    """statement (first line), source, departures, pilot: the labelled paragraphs of a claim docstring."""
    doc = (doc or "").strip()
    lines = doc.splitlines()
    out = {"statement": lines[0].strip() if lines else "", "text": doc}
    labels = "|".join(DOC_LABELS)
    for label in DOC_LABELS:
        m = re.search(rf"^{label}s?:\s*(.*?)(?=^(?:{labels})s?:|\Z)", doc, flags=re.S | re.M | re.I)
        out[label] = " ".join(m.group(1).split()) if m else ""
    return out


def axis_coordinate(spec: ClaimSpec, value: Any, all_levels: Sequence[Any]) -> float:
    """log2(level) on log scales (slopes per doubling), the index in the declared list on ordinal ones."""
    if spec.scale == "log":
        return math.log2(float(value))
    return float([repr(v) for v in all_levels].index(repr(value)))


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
                         "metrics": m.metrics, "diverged": m.diverged, "diverged_step": m.diverged_step,
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
    recs = [lookups[u["path"]].record for u in design["units"]
            if u["path"] in lookups and lookups[u["path"]].status == "ok"]
    commits = sorted({(r.provenance.get("git") or {}).get("commit") or "unknown" for r in recs})
    dirty = [f"{r.level_id}__s{r.seeds[0]}-{r.seeds[-1]}" for r in recs if (r.provenance.get("git") or {}).get("dirty")]
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


def summary_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (claim, metric) with BH q-values over all rows that have a p-value."""
    rows = []
    for s in summaries:
        for m in s["metrics"]:
            rows.append({"claim": s["claim"], "metric": m["metric"], "direction": m["direction"],
                         "verdict": m["verdict"], "reason": m["reason"], "p": _decision_p(m), "summary": s,
                         "stats": m["stats"]})
    ps = np.array([r["p"] if r["p"] is not None else math.nan for r in rows], dtype=float)
    qs = trend.benjamini_hochberg(ps) if len(ps) else ps
    for r, q in zip(rows, qs):
        r["q"] = None if math.isnan(q) else float(q)
        r["survives_bh"] = r["verdict"] not in (trend.REPRODUCED, trend.CONTRADICTED) or (
            r["q"] is not None and r["q"] < r["summary"]["alpha"])
    return rows


def _decision_p(m: Mapping[str, Any]) -> float | None:
    """The p that decided the verdict: the opposite direction's for CONTRADICTED, the claimed one's otherwise."""
    return m["stats"].get("p_opposite" if m["verdict"] == trend.CONTRADICTED else "p")


def summary_line(claim: str, m: Mapping[str, Any]) -> str:
    """One terminal line for a claim metric: verdict, p, slope with CI, minimum detectable effect."""
    s = m["stats"]
    line = f"{claim:<24} {m['metric'] + ' ' + m['direction']:<34} {m['verdict']:<13}"
    if s.get("p") is not None:
        line += (f" p={s['p']:.3g} slope={_num(s['slope'])} CI [{_num(s['ci_low'])}, {_num(s['ci_high'])}] "
                 f"{s.get('unit', '')}" + (f"  MDE={_num(s['mde'])}" if "mde" in s else ""))
    else:
        line += f" {m['reason']}"
    return line


def _num(v: Any) -> str:
    """A statistic for display: 3 significant digits; inf and None as written."""
    return f"{v:+.3g}" if isinstance(v, (int, float)) else str(v)
