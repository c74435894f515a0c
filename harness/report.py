"""Verdicts -> ``reports/<budget>/report.md``, matplotlib figures with their CSVs, and ``verdicts.json``.

Built from the committed claim summaries (``reports/<budget>/claims/<id>.json``), so a report can be rebuilt
anywhere and each change commits only its own claims' summaries; beside them it reads only which claims have
a design under ``results/<budget>/claims/`` (records) but no summary, to name them. Nothing here depends on the time of the run: the date shown is that of
the newest record, so an unchanged result gives a byte-identical report.

Figures: every PNG in ``figures/``; its data in ``figures/<claim>__<metric>.csv`` (one row per run),
``figures/curves/<claim>.csv`` (learning curves) or ``figures/laws/<claim>__<metric>.csv`` (fitted laws): one
folder per kind of CSV, so that dvc.yaml's ``plots:`` can give each folder its x and y.
"""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from harness import scaling, trend
from harness.claim import (CURVE, ELO_METRICS, LAW_X, SOURCE_STATUSES, STEPS_TO_THRESHOLD, ClaimSpec, axis_coordinate,
                           slope_unit, source_status)
from harness.records import atomic_write_json

VERDICT_CODE = {trend.REPRODUCED: 1, trend.INCONCLUSIVE: 0, trend.CONTRADICTED: -1}


def load_summaries(claims_dir: Path, only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The summaries ``claims_dir/<id>.json`` (of the claims ``only``, if given), in file order; a file that
    holds no JSON object is a ValueError naming it (the CLI reads them itself, with its checks)."""
    out = []
    for path in sorted(Path(claims_dir).glob("*.json")):
        if only is not None and path.stem not in only:
            continue
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict):
            raise ValueError(f"{path} holds a JSON {type(summary).__name__}, not a claim summary; delete it and "
                             f"rerun `python -m harness verdict {path.stem}`")
        out.append(summary)
    return out


def unjudged(results_dir: Path, budget: str, judged: Iterable[str], claims: Sequence[str] | None = None) -> list[str]:
    """The claims (of ``claims``, if given) with a design under ``results_dir/budget/claims`` (their runs made
    records) but no summary among ``judged``: the report names them instead of leaving them out silently."""
    judged = set(judged)
    return [path.stem for path in sorted((Path(results_dir) / budget / "claims").glob("*.json"))
            if path.stem not in judged and (claims is None or path.stem in claims)]


def build(reports_dir: Path, budget: str, claims: Sequence[str] | None = None,
          summaries: Sequence[dict[str, Any]] | None = None, results_dir: Path | None = None) -> Path:
    """Write report.md, figures/ and verdicts.json under ``reports_dir/budget``; returns report.md's path.
    ``summaries``: those already loaded (default: ``load_summaries`` of ``reports_dir/budget/claims``).
    ``results_dir`` (default: ``results/`` beside ``reports_dir``) is where designs show which claims have
    records but no summary. With no summary at all it writes nothing (ValueError): an empty report would hide
    that the verdicts never ran."""
    root = Path(reports_dir) / budget
    summaries = list(load_summaries(root / "claims", claims) if summaries is None else summaries)
    if not summaries:
        raise ValueError(f"no claim summaries under {root / 'claims'}: run `python -m harness verdict --budget "
                         f"{budget}` (or `dvc repro`) first; no report written")
    missing = unjudged(Path(reports_dir).parent / "results" if results_dir is None else results_dir, budget,
                       [s["claim"] for s in summaries], claims)
    rows = summary_rows(summaries)
    figures = root / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for s in summaries:  # a figure the claim no longer has must not linger
        for old in [*figures.glob(f"{s['claim']}__*"), *(figures / "laws").glob(f"{s['claim']}__*"),
                    *(figures / "curves").glob(f"{s['claim']}.csv")]:
            old.unlink()
        _claim_figures(s, figures)
    atomic_write_json(root / "verdicts.json", _verdicts_json(rows))
    text = _markdown(budget, summaries, rows, missing)
    path = root / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


# --- verdicts.json (DVC metrics) ---------------------------------------------------------------------------

def _verdicts_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """claim -> metric -> numbers that `dvc metrics show/diff` compare (the verdict also as a code)."""
    out: dict[str, Any] = {}
    for r in rows:
        s = r["stats"]
        out.setdefault(r["claim"], {})[r["metric"]] = {
            "verdict": r["verdict"], "code": VERDICT_CODE.get(r["verdict"], 0), "p": r["p"], "q": r["q"],
            "slope": s.get("slope"), "ci_low": _float(s.get("ci_low")), "ci_high": _float(s.get("ci_high")),
            "mde": s.get("mde")}
    return out


def _float(v: Any) -> float | None:
    if isinstance(v, str):
        return math.inf if v == "inf" else -math.inf
    return v


# --- figures ---------------------------------------------------------------------------------------------------

def metric_frame(summary: Mapping[str, Any], metric: str):
    """Plotted data of one claim metric: one row per (level, seed), normalized when the claim normalizes;
    ``x`` is the level's coordinate in the trend test (log2 of the level on log axes, its index on ordinal
    ones), the column that slopes are "per" (per doubling, per level step)."""
    import pandas as pd
    spec = summary["spec"]
    cspec = ClaimSpec.from_dict(spec)
    order = [lv["value"] for lv in summary["all_levels"]]
    second = _second(spec)
    rows = []
    for o in summary["observations"]:
        raw = o["metrics"].get(metric)
        level = o["params"][spec["axis"]]
        row = {"level_id": o["level_id"], "level": level, "x": axis_coordinate(cspec, level, order),
               "seed": o["seed"], "value": float(cspec.normalize(np.float64(math.nan if raw is None else raw))),
               "diverged": o["diverged"]}
        if second:
            row[second] = o["params"][second]
        rows.append(row)
    return pd.DataFrame(rows)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure(width: float = 7.0, height: float = 3.8):
    """A figure whose layout makes room for legends outside the axes (no tight_layout warnings)."""
    return _pyplot().subplots(figsize=(width, height), layout="constrained")


def _wrap(label: str, width: int = 34) -> str:
    """A legend label on lines of at most ``width`` characters (legends sit beside the axes)."""
    return textwrap.fill(label, width)


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _pyplot().close(fig)


def _words(name: str) -> str:
    return name.replace("_", " ")


def _second(spec: Mapping[str, Any]) -> str | None:
    """The claim's second parametrized argument: a contrast's arms, the blocks of a claim judged per block or a
    derived grid's budgets (None for a derived claim whose budgets are the points of its learning curves)."""
    over = spec.get("over")
    return spec.get("contrast") or spec.get("per_block") or (over if over != CURVE else None)


def _group_title(spec: Mapping[str, Any]) -> str | None:
    """The legend title of a claim's second parameter: a contrast's arms or a derived claim's budgets."""
    name = _second(spec)
    if name and spec.get("derive") == "compute_optimal":
        return f"{_words(name)} (multiple of the base budget)"
    return _words(name) if name else None


def _group_label(spec: Mapping[str, Any], value: Any) -> str:
    return f"×{value}" if spec.get("derive") == "compute_optimal" else str(value)


def _value_label(spec: Mapping[str, Any], metric: str) -> str:
    if metric == STEPS_TO_THRESHOLD and spec.get("reach") is not None:
        return f"env steps to an evaluation return of {spec['reach']:g}"
    if spec.get("random_score") is not None:
        return f"{metric} (normalized: random 0, reference 1)"
    return f"{metric} (raw)"


def _boundary(spec: Mapping[str, Any], direction: str) -> tuple[float, str] | None:
    """The slope a claim's test must clear, (slope, legend label): the margin of a "no gain" claim, the
    threshold of a strict one; None when it is 0 or the plot is not of the tested values (contrast, derived)."""
    if spec.get("contrast") or spec.get("derive"):
        return None
    no_change = direction.startswith("non_")
    size = spec["margin"] if no_change else spec["threshold"]
    if not size:
        return None
    slope = size if direction in ("increasing", "non_increasing") else -size
    what = (f"margin: the largest {'gain' if slope > 0 else 'loss'} that still counts as none" if no_change
            else "threshold: the smallest trend that counts")
    return slope, _wrap(f"{what} ({slope:+g} {slope_unit(spec['scale'])})")


def _claim_figures(summary: Mapping[str, Any], figures: Path) -> None:
    if not summary["observations"]:
        return
    for folder in (figures / "curves", figures / "laws"):
        folder.mkdir(parents=True, exist_ok=True)
    for m in summary["metrics"]:
        df = metric_frame(summary, m["metric"])
        df.to_csv(figures / f"{summary['claim']}__{m['metric']}.csv", index=False)
        _metric_figure(summary, m, df, figures / f"{summary['claim']}__{m['metric']}.png")
        if (m["stats"] or {}).get("law") and "a" in m["stats"]["law"]:
            _law_figure(summary, m, figures)
    _curves_figure(summary, figures)


def _metric_figure(summary: Mapping[str, Any], m: Mapping[str, Any], df, path: Path) -> None:
    """Each seed (thin line and points), the mean over seeds (thick line) with a 95% bootstrap CI of that mean
    (band), per group of a contrast or derived claim; the margin or threshold; control levels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    spec, metric = summary["spec"], m["metric"]
    order = [lv["value"] for lv in summary["all_levels"]]
    hue = _second(spec)
    fig, ax = _figure()
    band = _bootstrap_band(df, hue)
    groups = list(df.groupby(hue)) if hue else [(None, df)]
    for i, (key, g) in enumerate(groups):
        for _, run in g.groupby("seed"):
            run = run.sort_values("x")
            ax.plot(run["x"], run["value"], color=f"C{i}", lw=0.6, alpha=0.45, marker="o", ms=3)
        b = band[band[hue] == key] if hue else band
        ax.fill_between(b["x"], b["lo"], b["hi"], color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(b["x"], b["mean"], color=f"C{i}", lw=2)
    style = [Line2D([], [], color="0.3", lw=2, label="mean over seeds"),
             Patch(color="0.3", alpha=0.2, label=_wrap("95% CI of the mean (bootstrap over seeds)")),
             Line2D([], [], color="0.3", lw=0.6, alpha=0.6, marker="o", ms=3, label="one seed")]
    ylim = ax.get_ylim()
    controls = [axis_coordinate(ClaimSpec.from_dict(spec), c, order) for c in spec.get("controls") or ()]
    boundary = _boundary(spec, m["direction"])
    if boundary is not None and not band.empty:  # from the mean of the smallest level in the trend
        ref = band[~band["x"].isin(controls)].iloc[0]
        xs = np.array(sorted(set(df["x"]) - set(controls)))
        ax.plot(xs, ref["mean"] + boundary[0] * (xs - ref["x"]), color="k", ls="--", lw=1)
        style.append(Line2D([], [], color="k", ls="--", lw=1, label=boundary[1]))
    if metric == STEPS_TO_THRESHOLD and spec.get("reach") is not None:
        censored = max(max(o["curve"][0], default=0) for o in summary["observations"]) + 1
        ax.axhline(censored, color="0.5", ls=":", lw=1)
        style.append(Line2D([], [], color="0.5", ls=":", lw=1,
                            label=_wrap(f"never reached: censored at {censored:g} (the last evaluation + 1)")))
    ax.set_ylim(ylim)  # a steep margin line leaves the frame instead of squashing the data
    for x in controls:
        ax.axvline(x, color="0.6", ls=":", lw=1)
    if controls:
        style.append(Line2D([], [], color="0.6", ls=":", lw=1, label=_wrap("control level (not in the trend test)")))
    names = dict(zip(df["x"], df["level"]))
    ax.set_xticks(sorted(names))
    ax.set_xticklabels([_fmt(v) if isinstance(v, float) else str(v) for v in (names[x] for x in sorted(names))])
    ax.set_xlabel(_words(spec["axis"]) + (" (log scale)" if spec["scale"] == "log" else ""))
    ax.set_ylabel(_value_label(spec, metric))
    ax.set_title(_wrap(f"{summary['claim']}: {metric} {m['direction']} — {m['verdict']}", 60), fontsize=9)
    if hue:
        fig.legend(handles=[Line2D([], [], color=f"C{i}", lw=2, label=_group_label(spec, key))
                            for i, (key, _) in enumerate(groups)],
                   title=_group_title(spec), loc="outside right upper", fontsize=7, title_fontsize=7, frameon=False)
    fig.legend(handles=style, loc="outside right lower" if hue else "outside right upper", fontsize=7,
               frameon=False)
    _save(fig, path)


def _law_figure(summary: Mapping[str, Any], m: Mapping[str, Any], figures: Path) -> None:
    """The fitted power law on log-log axes: points, per-level means, the fit, and the band of laws whose
    exponent lies in the interval (pivoting at the geometric mean of x). For a derived claim: N*(C)."""
    import pandas as pd
    from matplotlib.ticker import NullFormatter

    claim, spec, st, law = summary["claim"], summary["spec"], m["stats"], m["stats"]["law"]
    fig, ax = _figure(6.5)
    if spec.get("derive"):
        df = pd.DataFrame({"x": st["budgets"], "y": st["optimal_size"]})
        ax.plot(df["x"], df["y"], "o-", color="0.3", label="N*(C), mean over seeds")
        xlabel, ylabel = "training compute C (FLOPs)", "compute-optimal parameters N*"
        (lo, hi), interval, centre = (st["ci_low"], st["ci_high"]), _ci(st), st["slope"]
        level, how = st.get("ci_level", st.get("level")), "Sen's slope over seeds"
    else:
        col = LAW_X[law["x"]]
        df = pd.DataFrame([{"x": o["params"][spec["axis"]] if col is None else o[col], "seed": o["seed"],
                            "level_id": o["level_id"], "y": o["metrics"].get(m["metric"])}
                           for o in summary["observations"]]).dropna()
        if m["metric"] in ELO_METRICS:  # the law is of the playing strength (harness.scaling, "Playing strength")
            df["y"] = scaling.elo_strength(df["y"])
        ax.scatter(df["x"], df["y"], s=12, color="0.5", label="one run")
        means = df.groupby("level_id", sort=False)[["x", "y"]].mean()
        ax.plot(means["x"], means["y"], "o", color="C0", label="mean over seeds")
        xlabel = _words(spec["axis"]) if col is None else {"params": "parameters", "flops": "training FLOPs"}.get(
            law["x"], _words(law["x"]))
        ylabel = law.get("of", f"{m['metric']} (raw)")
        lo, hi = law["ci"]
        interval, centre = f"[{_num_zero(lo)}, {_num_zero(hi)}]", law["exponent"]
        level, how = law["level"], "t-interval over per-seed fits"
    df.to_csv(figures / "laws" / f"{claim}__{m['metric']}.csv", index=False)
    a, b, floor = law["a"], law["b"], law.get("floor", 0.0)
    xs = np.geomspace(df["x"].min(), df["x"].max(), 50)
    ax.plot(xs, floor + a * xs ** b, color="C1",
            label=_wrap(f"fit to the means: exponent {_num_zero(b)} (R² {_fmt(law.get('r2'), 2)})"))
    if all(isinstance(v, (int, float)) for v in (lo, hi)):  # not None, nor an unbounded "inf"
        pivot = float(np.exp(np.mean(np.log(xs))))
        ref = a * pivot ** b
        ys = [floor + ref * (xs / pivot) ** e for e in (lo, hi)]
        ax.fill_between(xs, np.minimum(*ys), np.maximum(*ys), color="C1", alpha=0.2, lw=0,
                        label=_wrap(f"exponents in the {level:.0%} CI {interval} ({how})"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if lim[1] / lim[0] >= 10:  # major ticks label a decade; minor labels would overlap
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(f"{claim}: exponent {_num_zero(centre)}, {m['verdict']}", 60), fontsize=9)
    fig.legend(loc="outside right upper", fontsize=7, frameon=False)
    _save(fig, figures / f"{claim}__{m['metric']}__law.png")


def _bootstrap_band(df, hue: str | None, n_boot: int = 2000, seed: int = 0):
    """Mean per level with a 95% percentile band from a bootstrap over seeds within each level (plots only)."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    out = []
    groups = df.groupby([hue, "x"]) if hue else df.groupby(["x"])
    for key, g in groups:
        v = g["value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        boots = rng.choice(v, size=(n_boot, v.size), replace=True).mean(axis=1)
        row = {"x": key[-1] if isinstance(key, tuple) else key, "mean": v.mean(),
               "lo": np.percentile(boots, 2.5), "hi": np.percentile(boots, 97.5)}
        if hue:
            row[hue] = key[0]
        out.append(row)
    return pd.DataFrame(out).sort_values("x") if out else pd.DataFrame(columns=["x", "mean", "lo", "hi"])


def _level_label(spec: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """A level in a legend: its axis value, after a contrast's arm or before a derived claim's budget."""
    label = str(params[spec["axis"]])
    if spec.get("contrast"):
        label = f"{params[spec['contrast']]}, {label}"
    if _second(spec) and not spec.get("contrast"):
        label += ", " + _group_label(spec, params[_second(spec)])
    if params[spec["axis"]] in (spec.get("controls") or ()):
        label += " (control)"
    return label


def _curves_figure(summary: Mapping[str, Any], figures: Path) -> None:
    """The evaluation return over training per level: mean over seeds, band from the lowest to the highest
    seed; the claim's reach (the return that steps_to_threshold counts the env steps to)."""
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    rows = [{"level_id": o["level_id"], "seed": o["seed"], "env_steps": s, "return": r}
            for o in summary["observations"] for s, r in zip(*o["curve"])]
    if not rows:
        return
    claim, spec = summary["claim"], summary["spec"]
    df = pd.DataFrame(rows)
    df.to_csv(figures / "curves" / f"{claim}.csv", index=False)
    labels = {o["level_id"]: _level_label(spec, o["params"]) for o in summary["observations"]}
    fig, ax = _figure()
    cmap = _pyplot().get_cmap("viridis")
    handles = []
    for i, level_id in enumerate(labels):
        stat = df[df["level_id"] == level_id].groupby("env_steps")["return"].agg(["mean", "min", "max"])
        color = f"C{i}" if len(labels) <= 10 else cmap(i / (len(labels) - 1))
        ax.fill_between(stat.index, stat["min"], stat["max"], color=color, alpha=0.15, lw=0)
        handles += ax.plot(stat.index, stat["mean"], color=color, lw=1.5, label=labels[level_id])
    style = [Line2D([], [], color="0.3", lw=1.5, label="mean over seeds"),
             Patch(color="0.3", alpha=0.15, label="lowest to highest seed")]
    if spec.get("reach") is not None:
        ax.axhline(spec["reach"], color="k", ls="--", lw=1)
        style.append(Line2D([], [], color="k", ls="--", lw=1,
                            label=_wrap(f"reach {spec['reach']:g}: the return that steps_to_threshold counts "
                                        "the env steps to")))
    ax.set_xlabel("env steps (gradient steps for offline agents)")
    ax.set_ylabel("evaluation return (raw)")
    ax.set_title(_wrap(f"{claim}: evaluation return during training", 60), fontsize=9)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
    title = ", ".join(_words(k) for k in (spec.get("contrast"), spec["axis"]) if k)
    if _second(spec) and not spec.get("contrast"):
        title += ", " + _group_title(spec)
    fig.legend(handles=handles, title=_wrap(title), loc="outside right upper", fontsize=7, title_fontsize=7,
               frameon=False, ncols=2 if len(labels) > 10 else 1)
    fig.legend(handles=style, loc="outside right lower", fontsize=7, frameon=False)
    _save(fig, figures / f"{claim}__curves.png")


# --- markdown ---------------------------------------------------------------------------------------------------

def _number(v: float, digits: int = 3) -> str:
    """``digits`` significant digits for people: positional from 0.001 up to a million (-1150, 0.0472, 11000),
    with an exponent outside that range (5.43e-05, 3.96e+14)."""
    r = float(f"{v:.{digits}g}")
    if r == 0:
        return "0"
    if not 1e-3 <= abs(r) < 1e6:
        return f"{r:.{digits}g}"
    text = f"{r:.{max(0, digits - 1 - math.floor(math.log10(abs(r))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v.replace("inf", "∞")
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v > 0 else "−∞"
        return _number(v, digits)
    return str(v)


def _num_zero(v: Any) -> str:
    """A slope or exponent, written 0 when it is zero within rounding (e.g. 1.3e-15 from a fit)."""
    return "0" if isinstance(v, float) and abs(v) < 1e-9 else _fmt(v)


def _count(v: float) -> str:
    """A parameter count: 26k, 8.57M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return _number(v / size) + suffix
    return _number(v)


def _ci(st: Mapping[str, Any], fmt=_num_zero) -> str:
    """The slope's interval: a round bracket marks an end the test itself rejects (ties; see
    trend.TrendResult.ci_low_open), a square one an end inside the interval."""
    return (f"{'(' if st.get('ci_low_open') else '['}{fmt(st.get('ci_low'))}, "
            f"{fmt(st.get('ci_high'))}{')' if st.get('ci_high_open') else ']'}")


def _unit(st: Mapping[str, Any]) -> str:
    """What the effect, MDE and paper effect are measured in (per doubling, per level step; normalized?)."""
    unit = st.get("unit")
    if not unit:
        return "—"
    return unit + {True: " (normalized)", False: " (raw)"}.get(st.get("normalized"), "")


def _reason(m: Mapping[str, Any]) -> str:
    """The verdict's reason, in the claim's units (summaries written before verdict.py named them say
    "per unit x")."""
    st = m.get("stats") or {}
    unit = "per doubling of C" if st.get("derive") else st.get("unit") or "per doubling"
    return m["reason"].replace("per unit x", unit)


def _levels(summary: Mapping[str, Any]) -> str:
    """The levels run at this budget (a claim may run a subset of its parametrized levels)."""
    values = {repr(lv["value"]): lv["value"] for lv in summary.get("levels") or summary["all_levels"]}
    return ", ".join(str(v) for v in values.values())  # each value once (a grid repeats them)


def _commits_line(summaries: Sequence[Mapping[str, Any]]) -> str:
    """The records' commits in one line: how many (each claim's section lists its own). From the summaries
    only, never from git: a fresh clone, or a copy without git, must give the same report."""
    commits = sorted({c for s in summaries for c in s["provenance"]["commits"]})
    known = [c for c in commits if c != "unknown"]
    line = f"- Records made at {len(known)} commit{'s' if len(known) != 1 else ''}"
    if len(known) == 1:
        line += f" ({known[0][:10]})"
    if len(known) > 1:
        line += (": records were committed while the runs went on, so a claim's runs can span several commits "
                 "(each claim's section lists its own)")
    return line + ("; some records were made outside a git checkout" if "unknown" in commits else "")


def _notation(alpha: float) -> list[str]:
    """How to read the report, said once."""
    return [
        "## How to read this report", "",
        f"- **Verdict**: each metric's one-sided permutation p against alpha = {alpha:g}. **BH q**: "
        "Benjamini-Hochberg over the claim metrics that no gate stopped (gated and degenerate rows leave the "
        "family); † marks a verdict that does not survive it, ‡ a p that is the smallest this design can give. "
        "UNDERPOWERED: INCONCLUSIVE with an MDE above the paper's effect. PROVISIONAL: some records were made "
        "by uncommitted code.",
        "- **Units**: the effect is Sen's slope of the metric against the axis, **per doubling** of the level on "
        "log axes and **per level step** on ordinal ones, in normalized units (random 0, reference 1) where "
        "the claim gives reference scores, else in the metric's raw units; the `unit` column says which. The "
        "MDE (the smallest slope this design detects with 80% power) and the paper's effect are in the same "
        "unit.",
        f"- **Intervals**: [a, b] contains both ends; a round bracket marks an end that is not in the "
        f"interval, as in (a, b] or (a, b). The effect's {1 - 2 * alpha:.0%} CI inverts the same test, so "
        "it excludes 0 exactly when the test rejects; its ends are slopes between pairs of runs, and with "
        "tied values the test can reject a slope equal to an end, which is then left out. That matters only "
        "where the end is the value tested: (0, 0.2] excludes a zero slope. The fitted laws' t-intervals and "
        "the bootstrap intervals are closed.",
        "- **S (τ)**: Kendall's S of the metric against the axis, summed within blocks, and Kendall's τ-b. "
        "§: a contrast claim tests the paired differences between its two arms (same seed, same level), so "
        "S is that of the differences against the axis, and τ-b is not computed (—).",
        "- **Learned**: the levels that got at least the claim's learning gate (by default a tenth of the way "
        "from their untrained baseline to the reference).",
        "- **Numbers**: three significant digits (two for a standard deviation), written out from 0.001 up to "
        "a million and with an exponent outside that range; parameter counts in k (thousand) and M (million).",
        "- **Figures**: per claim metric, each seed (thin line and points) and the mean over seeds (thick "
        "line) with the 95% bootstrap CI of that mean (band); dashed: the claim's margin or threshold, drawn "
        "from the smallest level's mean; learning curves show the mean over seeds with a band from the lowest "
        "to the highest seed. Each figure's data is a CSV next to its link.", ""]


def _markdown(budget: str, summaries: list[dict[str, Any]], rows: list[dict[str, Any]], missing: Sequence[str]) -> str:
    newest = max((s["provenance"].get("newest_record") or "" for s in summaries), default="")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (trend.REPRODUCED, trend.CONTRADICTED,
                                                              trend.INCONCLUSIVE, "PLUMBING")}
    wall = sum(s["provenance"]["wall_time_s"] for s in summaries)
    lines = [f"# Scaling-claim report — budget `{budget}`", "",
             f"- Data as of: {newest or '—'} (newest record)",
             _commits_line(summaries),
             f"- Claims: {len(summaries)}; claim metrics: {len(rows)}: "
             + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
             + (f"; {len(missing)} more with records but no verdict (listed below)" if missing else ""),
             f"- Compute spent: {wall / 60:.1f} min of unit wall time, "
             f"{sum(s['provenance']['env_steps'] for s in summaries):,} env steps, "
             f"{sum(s['provenance']['flops'] for s in summaries):.3g} training FLOPs (estimate)", ""]
    if any(s.get("plumbing_only") for s in summaries):
        lines += ["**This budget checks plumbing only: it asserts no verdict.**", ""]
    if missing:
        lines += ["## Claims with records but no verdict", "",
                  "These claims have runs recorded (a design under `results/" + budget + "/claims/`) but no "
                  "verdict summary, so nothing below judges them: run `python -m harness verdict <id>` (or "
                  "`dvc repro`), then the report again.", ""]
        lines += [f"- `{c}`: `python -m harness verdict {c} --budget {budget}`" for c in missing]
        lines.append("")
    lines += _notation(summaries[0]["alpha"])
    lines += ["## Summary", "",
              "| claim | metric | statement | source | axis: levels | direction | seeds | learned | S (τ) | p | "
              "BH q | unit | effect [CI] | MDE | paper | MDE / paper | verdict | compute |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, st = r["summary"], r["stats"]
        lines.append(
            f"| [{s['claim']}](#{s['claim'].replace('_', '-')}) | {r['metric']} | {s['doc']['statement']} | "
            f"{_source(s['doc'])} | {s['spec']['axis']}: {_levels(s)} | {r['direction']} | {len(s['seeds'])} | "
            f"{_learned(st)} | {_s_tau(st, s['spec'])} | {_p(r)} | "
            f"{_fmt(r['q']) if r.get('out_of_family') is None else '— (' + r['out_of_family'] + ')'} | "
            f"{_unit(st)} | {_effect(st)} | {_fmt(st.get('mde'))} | {_fmt(st.get('paper_effect'))} | "
            f"{_fmt(st.get('mde_over_paper_effect'), 2)} | **{_verdict_label(r)}** | "
            f"{s['provenance']['wall_time_s'] / 60:.1f} min |")
    for s in summaries:
        lines += _claim_section(s)
    return "\n".join(lines) + "\n"


def _fmt_per_metric(v: Any) -> str:
    return ", ".join(f"`{k}` {_fmt_per_metric(x)}" for k, x in v.items()) if isinstance(v, dict) else _fmt(v)


def _learned(st: Mapping[str, Any]) -> str:
    levels = (st.get("gates") or {}).get("levels") or {}
    if not levels:
        return "n/a" if st.get("gates") else "—"
    return f"{sum(v['learned'] for v in levels.values())}/{len(levels)}"


def _s_tau(st: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """Kendall's S (τ-b). A contrast's ``statistic`` is its difference of slopes, not S: its S is ``kendall_s``
    (older summaries have no ``s_raw``)."""
    s = st.get("s_raw", st.get("kendall_s") if spec.get("contrast") else st.get("statistic")) if st else None
    if s is None:
        return "—"
    return f"{_fmt(s)} ({_fmt(st.get('tau'), 2)})" + (" §" if spec.get("contrast") else "")


def _p(r: Mapping[str, Any]) -> str:
    st = r["stats"]
    at_floor = r["p"] is not None and st.get("min_p") is not None and r["p"] <= st["min_p"] * (1 + 1e-9)
    return _fmt(r["p"]) + (" ‡" if at_floor else "")


def _effect(st: Mapping[str, Any]) -> str:
    if not st or st.get("slope") is None:
        return "—"
    if st.get("ties"):
        return f"{_num_zero(st['slope'])} (no CI: {st['ties']['reason']})"
    return f"{_num_zero(st['slope'])} {_ci(st)}"


def _verdict_label(r: Mapping[str, Any]) -> str:
    label = r["verdict"] + ("" if r["survives_bh"] else " †")
    if r["stats"].get("underpowered"):
        label += " (UNDERPOWERED)"
    if r["summary"]["provenance"].get("dirty_records"):
        label += " (PROVISIONAL)"
    return label


def _source(doc: Mapping[str, str]) -> str:
    """The summary table's source cell: the status word, then the source's beginning."""
    return f"**{source_status(doc) or 'unstated'}** · {_short(doc['source'])}"


def _source_status(doc: Mapping[str, str]) -> str:
    status = source_status(doc)
    if not status:
        return "not stated (the claim docstring has no 'Source status:' paragraph)"
    rest = doc["source status"].split(maxsplit=1)[1:]
    return f"**{status}** ({SOURCE_STATUSES[status]})" + (f": {rest[0]}" if rest else "")


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _claim_section(s: Mapping[str, Any]) -> list[str]:
    spec, doc = s["spec"], s["doc"]
    out = ["", f"## {s['claim'].replace('_', '-')}", "", f"**{doc['statement']}**", "",
           f"- Source: {doc['source'] or '—'}", f"- Source status: {_source_status(doc)}",
           f"- Departures from the paper: {doc['departures'] or '—'}",
           f"- Pilot: {doc['pilot'] or '—'}",
           f"- Gates and paper effect: {doc.get('gates') or '—'}",
           *([f"- How to read it: {doc['reading']}"] if doc.get("reading") else []),
           f"- Spec: axis `{spec['axis']}` ({spec['scale']}), metrics "
           + ", ".join(f"`{k}` {v}" for k, v in spec["metrics"].items())
           + (f", margin {spec['margin']:g} {slope_unit(spec['scale'])}" if spec["margin"] else "")
           + (f", threshold {spec['threshold']:g} {slope_unit(spec['scale'])}" if spec["threshold"] else "")
           + (f", blocks {', '.join(spec['blocks'])}" if spec["blocks"] else "")
           + (f", normalized: random {spec['random_score']} → 0, reference {spec['reference_score']} → 1"
              if spec.get("random_score") is not None else "")
           + (f", contrast `{spec['contrast']}`" if spec.get("contrast") else "")
           + (f", judged per `{spec['per_block']}` (holds if it holds on some, Holm-adjusted)"
              if spec.get("per_block") else "")
           + (f", power law against {spec['law']}" if spec.get("law") else "")
           + (f", derived: {spec['derive']} over `{spec['axis']}` x `{spec['over']}`" if spec.get("derive") else "")
           + (f", controls outside the trend: {', '.join(map(str, spec['controls']))}" if spec.get("controls") else "")
           + (f", `steps_to_threshold` = env steps to a return of {spec['reach']:g}" if spec.get("reach") is not None
              else "")
           + (f", learning gate {spec['learned']:g}" if spec.get("learned") is not None else ", no learning gate")
           + (f", ceiling {_fmt_per_metric(spec['ceiling'])}" if spec.get("ceiling") is not None else ", no ceiling")
           + (f", paper effect {_fmt_per_metric(spec['paper_effect'])}" if spec.get("paper_effect") is not None
              else ", paper effect not given")
           + f" (spec hash {s['spec_hash']})"]
    o = overall(s)
    if o is not None:
        out.append(f"- Conjunction of {', '.join(f'`{k}`' for k in spec['metrics'])}: **{o['verdict']}** "
                   "(REPRODUCED only if every metric is, CONTRADICTED if any is"
                   + (f"; p = {_fmt(o['p'])}, the largest of its metrics' p" if o.get("p") is not None else "") + ")")
        for a in o.get("agreement") or ():
            if a["tau_b"] is not None:
                out.append(f"- Agreement of `{a['metrics'][0]}` and `{a['metrics'][1]}` over the {a['runs']} runs: "
                           f"Kendall's τ-b {_fmt(a['tau_b'])}, each oriented so that its claimed direction is up"
                           + ("; they rank the runs much alike, so they largely record one event and the conjunction "
                              "is little stronger evidence than its weakest metric" if a["tau_b"] >= 0.5 else
                              "; they rank the runs differently enough to be partly separate evidence"))
    if s.get("previous_design"):
        prev = s["previous_design"]
        out.append(f"- **Redesigned**: this sweep replaced an earlier design (spec {prev['spec_hash']}, records up to "
                   f"{prev.get('newest_record') or 'unknown'}: "
                   + ", ".join(f"`{k}` {v}" for k, v in prev["verdicts"].items())
                   + "); none of its records are used here, and the docstring's Pilot says what decided the change")
    if s.get("first_spec_hash") and s["first_spec_hash"] != s["spec_hash"]:
        out.append(f"- **Spec changed after the first records** (first {s['first_spec_hash']}, now {s['spec_hash']}): "
                   "the verdict rules were edited after data existed.")
    if s.get("shared_with"):
        out.append("- Runs shared with other claims (each run trained once, one record): "
                   + ", ".join(f"{n} with {c}" for c, n in sorted(s["shared_with"].items())))
    prov = s["provenance"]
    out.append(f"- Records made at: {', '.join(c[:10] for c in prov['commits']) or '—'}")
    if prov["dirty_records"]:
        out.append(f"- Records made from uncommitted code: {', '.join(prov['dirty_records'])}")
    bad = [u for u in s["units"] if u["status"] != "ok"]
    if bad:
        out.append("- Units without a valid record: " + ", ".join(f"{u['path']} ({u['status']})" for u in bad))
    if prov.get("n_version_sets", 1) > 1:
        out.append(f"- Records come from {prov['n_version_sets']} different sets of package versions")
    out.append(f"- Versions: {', '.join(f'{k} {v}' for k, v in prov.get('versions', {}).items())}")
    if prov.get("devices"):
        out.append(f"- Ran on: {', '.join(prov['devices'])}, precision {', '.join(prov['precisions'])} "
                   "(harness/compute.py)")
    for m in s["metrics"]:
        out += ["", f"### `{m['metric']}` ({m['direction']}): {m['verdict']}", "", _reason(m), ""]
        out += _per_block_table(m, spec)
        out += _level_table(s, m["metric"])
        fig = f"figures/{s['claim']}__{m['metric']}.png"
        out += ["", f"![{s['claim']} {m['metric']}]({fig}) (data: `figures/{s['claim']}__{m['metric']}.csv`)"]
        law = (m["stats"] or {}).get("law")
        if law and "a" in law:
            if spec.get("derive"):
                out += ["", f"Compute-optimal size: N* = {_fmt(law['a'])} · C^{_num_zero(law['b'])} over the seed "
                        f"means (R² {_fmt(law.get('r2'), 2)}); the verdict's exponent is Sen's slope of log2 N* on "
                        f"log2 C within seeds: {_num_zero(m['stats'].get('slope'))} {_ci(m['stats'])}; the optimum "
                        f"sat at the smallest or largest size at {m['stats'].get('edge')} of {m['stats'].get('n')} "
                        "seed-budgets"]
            else:
                out += ["", f"Fitted law: {_law_text(law, m['metric'])} (reported beside the verdict, not part of it)"]
            out += ["", f"![{s['claim']} law](figures/{s['claim']}__{m['metric']}__law.png) "
                    f"(data: `figures/laws/{s['claim']}__{m['metric']}.csv`)"]
        elif law and "error" in law:
            out += ["", f"Fitted law: none ({law['error']})"]
    out += _beside_table(s)
    for metric, law in (s.get("laws_beside") or {}).items():
        out += ["", f"Fitted law beside the verdict: {_law_text(law, metric)}" if "a" in law
                else f"Fitted law beside the verdict, of `{metric}`: none ({law['error']})"]
    out += _task_iqm_table(s)
    out += ["", f"Learning curves: ![curves](figures/{s['claim']}__curves.png) "
            f"(data: `figures/curves/{s['claim']}.csv`)"]
    return out


def _law_text(law: Mapping[str, Any], metric: str) -> str:
    """A fitted power law (``verdict._law``), its exponent over seeds and that exponent's t-interval."""
    per_doubling = (f"; {_num_zero(400 * law['exponent'] * math.log10(2))} Elo per doubling"
                    if metric in ELO_METRICS else "")
    return (f"{law.get('of', metric)} = {_fmt(law.get('floor'))} + {_fmt(law['a'])} · "
            f"{law['x']}^{_num_zero(law['b'])} "
            f"(R² {_fmt(law.get('r2'), 2)}, level means); exponent over seeds {_num_zero(law['exponent'])}, "
            f"{law['level']:.0%} t-interval [{_num_zero(law['ci'][0])}, {_num_zero(law['ci'][1])}]{per_doubling}")


def _per_block_table(m: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    """A claim judged per block (ClaimSpec.per_block): each value's own verdict, p and Holm-adjusted p."""
    parts = (m["stats"] or {}).get("per_block")
    if not parts:
        return []
    lines = [f"| `{spec['per_block']}` | verdict | p | Holm p | unit | effect [CI] | MDE | why |",
             "|---|---|---|---|---|---|---|---|"]
    for b in parts:
        lines.append(f"| {b['value']} | {b['verdict']} | {_fmt(b.get('p'))} | {_fmt(b.get('p_holm'))} | {_unit(b)} | "
                     f"{_effect(b)} | {_fmt(b.get('mde'))} | {_reason(b)} |")
    return lines + [""]


def _beside_table(s: Mapping[str, Any]) -> list[str]:
    """Per level, the raw seed means of every recorded metric the claim does not test (finite runs only)."""
    others = sorted({k for o in s["observations"] for k in o["metrics"]} - set(s["spec"]["metrics"]))
    if not others:
        return []
    lines = ["", "Recorded beside the verdict (raw means over the seeds that did not diverge):", "",
             "| level | parameters | " + " | ".join(f"`{k}`" for k in others) + " |", "|---" * (len(others) + 2) + "|"]
    for level_id, obs in _by_level(s).items():
        cells = []
        for k in [None, *others]:
            v = np.array([math.nan if (x := (o["params_count"] if k is None else o["metrics"].get(k))) is None
                          else x for o in obs], dtype=float)
            mean = float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else None
            cells.append("—" if mean is None else _count(mean) if k is None else _fmt(mean, 4))
        lines.append(f"| {level_id} | " + " | ".join(cells) + " |")
    return lines


def _by_level(s: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for o in s["observations"]:
        out.setdefault(o["level_id"], []).append(o)
    return out


TASK_SCORE = "score/"  # per-task normalized scores recorded by multi-task agents: score/<task>


def _task_iqm_table(s: Mapping[str, Any]) -> list[str]:
    """Per level, the IQM of the per-task normalized scores (metrics ``score/<task>``) over tasks x seeds with
    a 95% stratified bootstrap interval (runs resampled within each task), when the agent records them."""
    tasks = sorted({k for o in s["observations"] for k in o["metrics"] if k.startswith(TASK_SCORE)})
    if not tasks:
        return []
    lines = ["", f"Per-task normalized scores ({', '.join(t[len(TASK_SCORE):] for t in tasks)}): IQM over tasks x "
             "seeds, 95% stratified bootstrap interval (seeds resampled within each task):", "",
             "| level | IQM [95% CI] | runs x tasks |", "|---|---|---|"]
    for level_id, obs in _by_level(s).items():
        grid = np.array([[math.nan if o["metrics"].get(t) is None else o["metrics"][t] for t in tasks] for o in obs],
                        dtype=float)
        grid = grid[np.isfinite(grid).all(axis=1)]
        if not grid.size:
            lines.append(f"| {level_id} | — | 0 x {len(tasks)} |")
            continue
        lo, hi = trend.stratified_bootstrap_ci(grid)
        lines.append(f"| {level_id} | {_fmt(float(trend.iqm(grid)))} [{_fmt(float(lo))}, {_fmt(float(hi))}] | "
                     f"{grid.shape[0]} x {len(tasks)} |")
    return lines


def _level_learned(gates: Mapping[str, Any], level_id: str) -> str:
    lv = (gates.get("levels") or {}).get(level_id)
    if lv is None:
        return "—"
    amount = f"{lv['reached']:.0%} reached" if "reached" in lv else f"{lv['progress']:.2f} of the way"
    return ("yes" if lv["learned"] else "no") + f" ({amount})"


def _level_table(s: Mapping[str, Any], metric: str) -> list[str]:
    df = metric_frame(s, metric)
    if df.empty:
        return ["(no data)"]
    scale = "normalized" if s["spec"].get("random_score") is not None else "raw"
    m = next((m for m in s["metrics"] if m["metric"] == metric), None)
    gates = ((m or {}).get("stats") or {}).get("gates") or {}
    lines = [f"| level | {scale} {metric}: mean ± sd | per seed | diverged | learned |", "|---|---|---|---|---|"]
    controls = {str(c) for c in s["spec"].get("controls") or ()}  # str: the frame holds numpy scalars
    for level_id, g in df.groupby("level_id", sort=False):
        if str(g["level"].iloc[0]) in controls:
            level_id = f"{level_id} (control, not in the trend)"
        v = g["value"].to_numpy(dtype=float)
        fin = v[np.isfinite(v)]
        sd = float(fin.std(ddof=1)) if fin.size > 1 else 0.0
        mean = f"{_fmt(float(fin.mean()))} ± {_fmt(sd, 2)}" if fin.size else "—"
        per_seed = ", ".join("div" if not math.isfinite(x) else _fmt(float(x)) for x in v)
        lines.append(f"| {level_id} | {mean} | {per_seed} | {int(g['diverged'].sum())}/{len(g)} | "
                     f"{_level_learned(gates, g['level_id'].iloc[0])} |")
    return lines


# --- rows and lines (the report's table, the terminal summary, `harness show`) ----------------------

def overall(s: Mapping[str, Any]) -> dict[str, Any] | None:
    """A summary's conjunction (verdict, p, metrics, gated), or None; older summaries held the verdict alone."""
    o = s.get("overall")
    if o is None or isinstance(o, dict):
        return o
    return {"verdict": o, "p": None, "metrics": list(s["spec"]["metrics"]), "gated": False}


def in_bh_family(verdict: str, reason: str, stats: Mapping[str, Any]) -> str | None:
    """Why a row stays out of the BH family (None: it is in): a metric a gate made INCONCLUSIVE or whose data
    are degenerate tests nothing, so it must not dilute (or pad) the family."""
    if (stats.get("gates") or {}).get("failed") and verdict == trend.INCONCLUSIVE:
        return f"gated ({stats['gates']['failed']})"
    if reason.startswith("degenerate"):
        return "degenerate data"
    if stats.get("p") is None:
        return "no p-value"
    return None


def summary_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (claim, metric), and one per conjunction, with BH q-values over the rows of the family
    (those with a p-value that no gate stopped and whose data are not degenerate)."""
    rows = []
    for s in summaries:
        for m in s["metrics"]:
            rows.append({"claim": s["claim"], "metric": m["metric"], "direction": m["direction"],
                         "verdict": m["verdict"], "reason": m["reason"], "p": _decision_p(m), "summary": s,
                         "stats": m["stats"], "out_of_family": in_bh_family(m["verdict"], m["reason"], m["stats"])})
        o = overall(s)
        if o is not None:
            rows.append({"claim": s["claim"], "metric": "all", "direction": "conjunction", "verdict": o["verdict"],
                         "reason": "conjunction of " + ", ".join(o["metrics"]), "p": o["p"], "summary": s,
                         "stats": {"p": o["p"]},
                         "out_of_family": "gated" if o["gated"] else (None if o["p"] is not None else "no p-value")})
    family = [r for r in rows if r["out_of_family"] is None]
    ps = np.array([r["p"] for r in family], dtype=float)
    qs = trend.benjamini_hochberg(ps) if len(ps) else ps
    for r in rows:
        r["q"] = None
    for r, q in zip(family, qs):
        r["q"] = None if math.isnan(q) else float(q)
    for r in rows:
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
        line += (f" p={s['p']:.3g} slope={_signed(s['slope'])} CI {_ci(s, _signed)} "
                 f"{s.get('unit', '')}" + (f"  MDE={_signed(s['mde'])}" if "mde" in s else ""))
    else:
        line += f" {_reason(m)}"
    return line


def _signed(v: Any) -> str:
    """A statistic for display: 3 significant digits; inf and None as written."""
    return f"{v:+.3g}" if isinstance(v, (int, float)) else str(v)
