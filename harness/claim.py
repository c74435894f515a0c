"""The claim vocabulary: the validated ``@pytest.mark.claim(...)`` marker (``ClaimSpec``) and the claim
docstring's labelled paragraphs. Pure: no pytest, no records, no statistics beyond the list of directions.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from harness import trend
from harness.records import canonical_hash

LEARNED = 0.1
"""The default learning gate (``ClaimSpec.learned``): a tenth of the way from the baseline to the anchor."""
HEADROOM = 0.1
"""The headroom gate's tolerance (``ClaimSpec.ceiling``): a tenth of the way from the baseline to the ceiling."""
SENSITIVITY = 0.25
"""A "no gain" (non_*) claim is REPRODUCED only when its margin per doubling is at most this fraction of what
its reference level learned (mean metric minus mean baseline, in the claim's units): a design whose margin
is as large as the learning itself could not have seen a gain."""
STEPS_TO_THRESHOLD = "steps_to_threshold"  # a metric the verdict computes from the curves (see ClaimSpec.reach)
LOWER_IS_BETTER = {STEPS_TO_THRESHOLD}
"""Metrics for which a smaller value is better (every other metric: larger is better)."""
ELO_METRICS = {"elo"}
"""Metrics in Elo points (random play 0): a fitted law (``law=``) is of their Bradley-Terry playing strength
10^(elo / 400) (``scaling.elo_strength``), as Neumann & Gros 2023 fit it, not of the Elo itself."""

SCALES = ("log", "ordinal")
LAW_X = {"axis": None, "env_steps": "env_steps", "params": "params_count", "flops": "flops"}
"""What a fitted law is a function of: the axis value, or a quantity recorded per run."""
DERIVED = ("compute_optimal",)
CURVE = "curve"
"""``over=CURVE`` in a derived claim: the compute budgets are the evaluations along each run's learning curve."""


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
    law_beside: tuple[str, ...] = ()
    """Metrics recorded beside the verdict (not in ``metrics``) whose power law against ``law`` the report also
    fits and shows (a FLOP-matched score beside a token-matched one, say). Presentation only: it never changes a
    verdict, and it is left out of the spec hash."""
    derive: str | None = None
    """A two-axis claim judged on a quantity derived from the whole grid, not on a trend along ``axis``.
    "compute_optimal": over a grid of model sizes (``axis``) x budgets (``over``), the compute-optimal
    size N*(C) (recorded parameter counts and training FLOPs) is found at log-spaced compute budgets and
    ``N* ~ C ** e`` is judged by the blocked Kendall test of log2 N* on log2 C within seeds; the metric's
    direction names the claimed sign of e, and the verdict is REPRODUCED when the interval of Sen's slope (the
    inverted test) lies on the claimed side of 0, CONTRADICTED when it lies on the other side, INCONCLUSIVE
    otherwise (harness/verdict.py ``_assess_derived``)."""
    over: str | None = None
    """For ``derive``: the second parametrized argument of the grid (e.g. the env-step budget), or ``CURVE``
    ("curve"): every evaluation along a run's learning curve is a cell, at the FLOPs the run had spent by then
    (the members' ``extra["curve_flops"]``, one per point of the curve). That is sound only for an agent whose
    shorter runs are exactly the beginnings of longer ones (no schedule tied to the budget, evaluations that
    draw from no training stream), and it costs one run per size instead of one per size and budget."""
    per_block: str | None = None
    """A parametrized argument (e.g. "task") whose values are judged one by one, for a claim that holds "on some
    tasks": each value gets its own trend test and gates (within it, observations are paired as ``blocks``
    says), and the claim is REPRODUCED when at least one value is, at Holm-adjusted p < alpha over all the
    values (``trend.on_some_blocks``), CONTRADICTED when every value is, INCONCLUSIVE otherwise."""
    controls: tuple[Any, ...] | None = None
    """Axis levels that are run and shown (a negative control, say) but left out of the trend test."""
    reach: float | None = None
    """For the metric ``steps_to_threshold`` (data efficiency): the evaluation return that counts as reaching
    the task. The verdict computes it per member from the learning curve (``steps_to_threshold``):
    the env steps of the first evaluation at or above ``reach``; a run that never gets there is censored at
    the claim's env-step budget + 1 and ranks last."""

    learned: float = LEARNED
    """The learning gate: the smallest fraction of the way from a level's baseline (per seed, the larger of
    the random-policy score and the untrained policy's step-0 score) to the claim's anchor
    (``reference_score``, else ``ceiling``) that counts as having learned. A strict claim needs one level
    that learned; a "no gain" claim needs its reference (smallest) level to have learned. Otherwise the
    metric is INCONCLUSIVE ("did not learn"). For ``steps_to_threshold`` a level learned when at least half
    its runs reached ``reach``."""
    ceiling: Any = None
    """The best score the task allows (its maximum, the expert's, or the best reference policy's), in the metric's raw
    units; one number, or a dict metric -> number; with ``per_block``, also a dict of those by the block's value
    (``{"CartPole-v1": 500, "Acrobot-v1": -60}``), for tasks whose scores differ. The headroom gate: an
    ``increasing`` (or ``non_increasing``) metric whose smallest level is already within ``HEADROOM`` of the way
    from its baseline to the ceiling is INCONCLUSIVE ("no headroom"); a ``decreasing`` (or ``non_decreasing``) one
    whose smallest level has not risen ``HEADROOM`` of the way above its baseline likewise (nothing to lose)."""
    paper_effect: Any = None
    """The effect the paper reports, in the claim's units (the slope per doubling, or per level step on an
    ordinal axis; normalized where the claim normalizes): one number, a dict metric -> number, or
    "unknown" (say why in the docstring). The report sets the design's minimum detectable effect beside it
    and labels an INCONCLUSIVE metric UNDERPOWERED when the MDE exceeds it."""

    FIELDS = ("axis", "metrics", "margin", "threshold", "blocks", "random_score", "reference_score", "scale",
              "contrast", "conjunction", "law", "law_beside", "derive", "over", "per_block", "controls", "reach",
              "learned", "ceiling", "paper_effect")
    OPTIONAL = ("law", "law_beside", "derive", "over", "per_block", "controls", "reach", "ceiling", "paper_effect")
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
                   law_beside=tuple(kwargs.get("law_beside") or ()),
                   derive=kwargs.get("derive"), over=kwargs.get("over"), per_block=kwargs.get("per_block"),
                   controls=tuple(kwargs["controls"]) if kwargs.get("controls") is not None else None,
                   reach=_opt_float(kwargs.get("reach")), learned=float(kwargs.get("learned", LEARNED)),
                   ceiling=_ceiling(kwargs.get("ceiling"), kwargs.get("per_block"), metrics, at),
                   paper_effect=_per_metric(kwargs.get("paper_effect"), metrics, "paper_effect", at,
                                            allow_unknown=True))
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
        if self.law_beside and (self.law is None or set(self.law_beside) & set(self.metrics)):
            raise ClaimSpecError(f"{at}law_beside={list(self.law_beside)} names metrics recorded beside the verdict "
                                 "whose law the report fits too: it needs law= and may not repeat the claim's metrics")
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
        if not 0 <= self.learned < 1:
            raise ClaimSpecError(f"{at}learned= is a fraction of the way from baseline to anchor, in [0, 1); got "
                                 f"{self.learned}")
        if self.per_block is not None:
            if not isinstance(self.per_block, str) or self.per_block in (self.axis, "seed"):
                raise ClaimSpecError(f"{at}per_block must name a parametrized argument other than the axis and "
                                     f"seed (the tasks a claim 'on some tasks' is judged on), got {self.per_block!r}")
            if self.derive or self.contrast:
                raise ClaimSpecError(f"{at}per_block= is not supported with derive= or contrast=")
        if self.controls is not None and (self.derive or self.contrast):
            raise ClaimSpecError(f"{at}controls= (axis levels run and shown but left out of the trend) is not "
                                 "supported with derive= or contrast=")

    def check_parametrized(self, argnames: Sequence[str], levels: Sequence[Any], where: str = "",
                           contrast_values: Sequence[Any] | None = None,
                           per_block_values: Sequence[Any] | None = None) -> None:
        """Validate the spec against the claim function's parametrization."""
        at = f"{where}: " if where else ""
        for name, what in [(self.axis, "axis"), *[(b, "blocks") for b in self.blocks if b != "seed"],
                           *([(self.contrast, "contrast")] if self.contrast else []),
                           *([(self.over, "over")] if self.over and self.over != CURVE else []),
                           *([(self.per_block, "per_block")] if self.per_block else [])]:
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
        if self.ceiling_per_block and per_block_values is not None:
            missing = sorted({str(v) for v in per_block_values} - set(self.ceiling))
            extra = sorted(set(self.ceiling) - {str(v) for v in per_block_values})
            if missing or extra:
                raise ClaimSpecError(f"{at}ceiling= by {self.per_block} must name each of its values "
                                     f"{[str(v) for v in per_block_values]} once" + (f"; missing {missing}" if missing
                                     else "") + (f"; not values of {self.per_block}: {extra}" if extra else ""))

    @property
    def ceiling_per_block(self) -> bool:
        """True when ``ceiling`` is given per value of ``per_block`` (not one number or a dict by metric)."""
        return bool(self.per_block) and isinstance(self.ceiling, Mapping) and not set(self.ceiling) <= set(self.metrics)

    def for_block(self, value: Any) -> "ClaimSpec":
        """The spec one value of ``per_block`` is judged by: its own ceiling where the ceiling is per block."""
        return replace(self, ceiling=self.ceiling[str(value)]) if self.ceiling_per_block else self

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if not (k in self.OPTIONAL and (v is None or v == ()))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ClaimSpec":
        return cls.from_marker((), {k: v for k, v in d.items()})

    @property
    def hash(self) -> str:
        """Of every field that can change a verdict (``law_beside`` is presentation)."""
        return canonical_hash({k: v for k, v in self.to_dict().items() if k != "law_beside"})

    @property
    def normalized(self) -> bool:
        return self.random_score is not None

    def normalize(self, y: np.ndarray) -> np.ndarray:
        if not self.normalized:
            return y
        return (y - self.random_score) / (self.reference_score - self.random_score)


def _per_metric(value: Any, metrics: Mapping[str, str], name: str, at: str, allow_unknown: bool = False) -> Any:
    """None, a number, "unknown" (where allowed) or a dict metric -> one of those; checked."""
    def one(v: Any, where: str) -> Any:
        if v is None or (allow_unknown and v == "unknown"):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            alternative = " or 'unknown'" if allow_unknown else ""
            raise ClaimSpecError(f"{at}{where} must be a number{alternative}, got {v!r}")
        return float(v)
    if isinstance(value, Mapping):
        unknown = set(value) - set(metrics)
        if unknown:
            raise ClaimSpecError(f"{at}{name} names {sorted(unknown)}, which are not metrics of the claim "
                                 f"({', '.join(metrics)})")
        return {m: one(v, f"{name}[{m!r}]") for m, v in value.items()}
    return one(value, name)


def _ceiling(value: Any, per_block: Any, metrics: Mapping[str, str], at: str) -> Any:
    """``ceiling=``: as ``_per_metric``, or, for a claim judged per block, a dict block value -> one of those
    (keys are the values as strings, as they are written in records)."""
    if per_block and isinstance(value, Mapping) and not set(value) <= set(metrics):
        return {str(b): _per_metric(v, metrics, f"ceiling[{b!r}]", at) for b, v in value.items()}
    return _per_metric(value, metrics, "ceiling", at)


def metric_value(value: Any, metric: str) -> Any:
    """The per-metric value of a field that is one value or a dict metric -> value (None when absent)."""
    return value.get(metric) if isinstance(value, Mapping) else value


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


DOC_LABELS = ("source", "source status", "departures", "pilot", "gates", "reading")
"""A claim docstring's labelled paragraphs. "Reading:" (optional) says how to read the verdict: what each metric
can and cannot show in this miniature, and what its metrics share."""
OPTIONAL_DOC_LABELS = ("reading",)
SOURCE_STATUSES = {
    "VERIFIED": "the claim's statement was read in its primary source",
    "SECONDARY": "the primary source was not read here; the statement is known from a work that cites it",
    "UNVERIFIED": "the primary source was not located or not read; the claim is tested as stated by whoever made it",
}
"""How well the claim's source was checked: the first word of the docstring's "Source status:" paragraph."""
_LABEL_OF = {label.removesuffix("s"): label for label in DOC_LABELS}  # label names, singular or plural
_LABEL = re.compile(r"(?:^[ \t]*|(?<=[.;!?])[ \t]+)[*_]*(?P<name>[A-Za-z][A-Za-z \t]{0,30}?)[*_]*[ \t]*:[*_]*", re.M)
"""What may be a label: a few words and a colon, at the start of a line or after the end of a sentence."""


def parse_docstring(doc: str | None, where: str = "") -> dict[str, str]:
    """statement (the first paragraph), source, source status, departures, pilot, gates, reading: the labelled
    paragraphs of a claim docstring ("Gates:" says where the learning gate, ceiling and paper effect come from; "Source
    status:" begins with one of ``SOURCE_STATUSES``), and its text.

    A label opens its paragraph at the start of a line, or after the end of a sentence on the same line
    ("... Fig. 1. Departures: ..."), in any case, singular or plural, indented or in **bold**; the paragraph
    runs to the next label (a label given twice has its paragraphs joined). Nothing is dropped: text between
    the statement and the first label, and a paragraph (after a blank line) that begins with an unknown label,
    raise ClaimSpecError with the known labels. Any other "words:" stays in the paragraph that holds it."""
    at = f"{where}: " if where else ""
    known = ", ".join(f"{label.capitalize()}:" for label in DOC_LABELS)
    text = inspect.cleandoc(doc or "")
    heads: list[tuple[int, int, str]] = []  # (start, end, label) of each label, in order
    for m in _LABEL.finditer(text, 1):  # from 1: the first line begins the statement, whatever its words
        name, start = m["name"].strip(), m.start()
        label = _LABEL_OF.get(" ".join(name.lower().split()).removesuffix("s"))
        line_start = text[start - 1] == "\n"
        if label and (line_start or name[0].isupper()):
            heads.append((start, m.end(), label))
        elif (line_start and name[0].isupper() and text[m.end():m.end() + 1].isspace()
              and not text[:start - 1].rsplit("\n", 1)[-1].strip()):  # an unknown label opens a paragraph
            line = text[start:].split("\n", 1)[0]
            raise ClaimSpecError(f"{at}the docstring's paragraph {_short(line)!r} has an unknown label; claim "
                                 f"docstrings have {known} (any case): use one of them, or move the text into one "
                                 "of their paragraphs")
    first = heads[0][0] if heads else len(text)
    blank = re.search(r"\n[ \t]*\n", text)
    end = min(first, blank.start() if blank else first)
    if text[end:first].strip():
        raise ClaimSpecError(f"{at}the docstring's text {_short(text[end:first])!r} follows the statement but has "
                             f"no label; begin it with one of {known}, or move it into one of their paragraphs")
    out = {"statement": " ".join(text[:end].split()), "text": text, **{label: "" for label in DOC_LABELS}}
    for (_, body, label), (nxt, *_) in zip(heads, heads[1:] + [(len(text),)]):
        out[label] = " ".join((out[label] + " " + text[body:nxt]).split())
    if out["source status"] and source_status(out) not in SOURCE_STATUSES:
        raise ClaimSpecError(f"{at}the docstring's 'Source status:' paragraph must begin with one of "
                             f"{', '.join(SOURCE_STATUSES)} (then, optionally, why), not "
                             f"{_short(out['source status'])!r}")
    return out


def source_status(doc: Mapping[str, str]) -> str:
    """The status word of a parsed docstring's "Source status:" paragraph ("" when the docstring has none)."""
    words = (doc.get("source status") or "").split(maxsplit=1)
    return words[0].strip(".,;:—-").upper() if words else ""


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


def slope_unit(scale: str) -> str:
    """What a slope against the axis is per (``axis_coordinate``): "per doubling" on log scales, "per level
    step" on ordinal ones."""
    return "per doubling" if scale == "log" else "per level step"


def axis_coordinate(spec: ClaimSpec, value: Any, all_levels: Sequence[Any]) -> float:
    """log2(level) on log scales (slopes per doubling), the index in the declared list on ordinal ones."""
    if spec.scale == "log":
        return math.log2(float(value))
    return float([repr(v) for v in all_levels].index(repr(value)))
