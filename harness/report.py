"""Verdicts -> ``reports/<budget>/report.md``, seaborn figures with their CSVs, and ``verdicts.json``.

Built only from the committed claim summaries (``reports/<budget>/claims/<id>.json``), so a report can be
rebuilt anywhere and each change commits only its own claims' summaries. Nothing here depends on the
time of the run: the date shown is that of the newest record, so an unchanged result gives a byte-identical
report.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness import trend
from harness.claim import LAW_X, ClaimSpec
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


def build(reports_dir: Path, budget: str, claims: Sequence[str] | None = None,
          summaries: Sequence[dict[str, Any]] | None = None) -> Path:
    """Write report.md, figures/ and verdicts.json under ``reports_dir/budget``; returns report.md's path.
    ``summaries``: those already loaded (default: ``load_summaries`` of ``reports_dir/budget/claims``). With no
    summary at all it writes nothing (ValueError): an empty report would hide that the verdicts never ran."""
    root = Path(reports_dir) / budget
    summaries = list(load_summaries(root / "claims", claims) if summaries is None else summaries)
    if not summaries:
        raise ValueError(f"no claim summaries under {root / 'claims'}: run `python -m harness verdict --budget "
                         f"{budget}` (or `dvc repro`) first; no report written")
    rows = summary_rows(summaries)
    figures = root / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for s in summaries:
        for old in figures.glob(f"{s['claim']}__*"):  # a figure the claim no longer has must not linger
            old.unlink()
        _claim_figures(s, figures)
    atomic_write_json(root / "verdicts.json", _verdicts_json(rows, summaries))
    text = _markdown(budget, summaries, rows)
    path = root / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


# --- verdicts.json (DVC metrics) ---------------------------------------------------------------------------

def _verdicts_json(rows: list[dict[str, Any]], summaries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in rows:
        s = r["stats"]
        out.setdefault(r["claim"], {})[r["metric"]] = {
            "verdict": r["verdict"], "code": VERDICT_CODE.get(r["verdict"], 0), "p": r["p"], "q": r["q"],
            "slope": s.get("slope"), "ci_low": _num(s.get("ci_low")), "ci_high": _num(s.get("ci_high")),
            "mde": s.get("mde")}
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, str):
        return math.inf if v == "inf" else -math.inf
    return v


# --- figures ---------------------------------------------------------------------------------------------------

def metric_frame(summary: Mapping[str, Any], metric: str):
    """Plotted data of one claim metric: one row per (level, seed), normalized when the claim normalizes."""
    import pandas as pd
    spec = summary["spec"]
    normalize = ClaimSpec.from_dict(spec).normalize
    rows = []
    for o in summary["observations"]:
        raw = o["metrics"].get(metric)
        value = float(normalize(np.float64(math.nan if raw is None else raw)))
        row = {"level_id": o["level_id"], "level": o["params"][spec["axis"]], "seed": o["seed"],
               "value": value, "diverged": o["diverged"]}
        for extra in ("contrast", "over"):
            if spec.get(extra):
                row[spec[extra]] = o["params"][spec[extra]]
        rows.append(row)
    return pd.DataFrame(rows)


def _claim_figures(summary: Mapping[str, Any], figures: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    claim, spec = summary["claim"], summary["spec"]
    if not summary["observations"]:
        return
    for m in summary["metrics"]:
        metric = m["metric"]
        df = metric_frame(summary, metric)
        df.to_csv(figures / f"{claim}__{metric}.csv", index=False)
        order = [lv["value"] for lv in summary["all_levels"]]
        if spec["scale"] != "log":  # ordinal levels (maybe of mixed types) are plotted at their positions
            position = {repr(v): i for i, v in enumerate(order)}
            df = df.assign(level=[position[repr(v)] for v in df["level"]])
        hue = spec.get("contrast") or spec.get("over")
        fig, ax = plt.subplots(figsize=(7.5 if hue else 5.5, 3.6))
        band = _bootstrap_band(df, hue)
        for key, b in band.groupby(hue) if hue else [(None, band)]:
            ax.fill_between(b["level"], b["lo"], b["hi"], alpha=0.2, label=None if key is None else f"{key} 95% band")
            ax.plot(b["level"], b["mean"], lw=2, label="mean" if key is None else f"{key} mean")
        sns.lineplot(data=df, x="level", y="value", units="seed", estimator=None, hue=hue, lw=0.6, alpha=0.5,
                     ax=ax, legend=False, color=None if hue else "0.4")
        sns.scatterplot(data=df, x="level", y="value", hue=hue, ax=ax, s=18, legend=False)  # diverged: NaN, absent
        if hue:
            ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if spec["scale"] == "log":
            ax.set_xscale("log", base=2)
        for c in spec.get("controls") or ():
            x = c if spec["scale"] == "log" else order.index(c)
            ax.axvline(x, color="0.6", ls=":", lw=1)
            ax.annotate("control (not in the trend)", (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        color="0.4", ha="left", va="top")
        levels = sorted(df["level"].unique())
        ax.set_xticks(levels)
        ax.set_xticklabels([str(v if spec["scale"] == "log" else order[v]) for v in levels])
        ax.set_xlabel(spec["axis"])
        ax.set_ylabel(f"{metric} ({'normalized' if spec.get('random_score') is not None else 'raw'})")
        ax.set_title(f"{claim}: {metric} — {m['verdict']}", fontsize=9)
        fig.tight_layout()
        fig.savefig(figures / f"{claim}__{metric}.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        if (m["stats"] or {}).get("law") and "a" in m["stats"]["law"]:
            _law_figure(summary, m, figures)
    _curves_figure(summary, figures)


def _law_figure(summary: Mapping[str, Any], m: Mapping[str, Any], figures: Path) -> None:
    """The fitted power law on log-log axes: points, per-level means, the fit, and the band of laws whose
    exponent lies in the interval (pivoting at the geometric mean of x). For a derived claim: N*(C)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import NullFormatter

    claim, spec, st, law = summary["claim"], summary["spec"], m["stats"], m["stats"]["law"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if spec.get("derive"):
        df = pd.DataFrame({"x": st["budgets"], "y": st["optimal_size"]})
        ax.plot(df["x"], df["y"], "o-", color="0.3", label="N*(C), seed means")
        xlabel, ylabel = "training compute C (FLOPs)", "compute-optimal parameters N*"
        lo, hi, centre, level = st["ci_low"], st["ci_high"], st["slope"], st.get("ci_level", st.get("level"))
    else:
        col = LAW_X[law["x"]]
        df = pd.DataFrame([{"x": o["params"][spec["axis"]] if col is None else o[col], "seed": o["seed"],
                            "level_id": o["level_id"], "y": o["metrics"].get(m["metric"])}
                           for o in summary["observations"]]).dropna()
        ax.scatter(df["x"], df["y"], s=12, color="0.5", label="runs")
        means = df.groupby("level_id", sort=False)[["x", "y"]].mean()
        ax.plot(means["x"], means["y"], "o", color="C0", label="level means")
        xlabel, ylabel = (spec["axis"] if col is None else law["x"]), m["metric"]
        lo, hi = law["ci"]
        centre, level = law["exponent"], law["level"]
    df.to_csv(figures / f"{claim}__{m['metric']}__law.csv", index=False)
    a, b, floor = law["a"], law["b"], law.get("floor", 0.0)
    xs = np.geomspace(df["x"].min(), df["x"].max(), 50)
    ax.plot(xs, floor + a * xs ** b, color="C1", label=f"fit: exponent {b:.3g} (R² {_fmt(law.get('r2'), 2)})")
    if lo is not None and hi is not None:
        pivot = float(np.exp(np.mean(np.log(xs))))
        ref = a * pivot ** b
        ys = [floor + ref * (xs / pivot) ** e for e in (lo, hi)]
        ax.fill_between(xs, np.minimum(*ys), np.maximum(*ys), color="C1", alpha=0.2,
                        label=f"exponent {level:.0%} CI [{lo:.3g}, {hi:.3g}]")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if lim[1] / lim[0] >= 10:  # major ticks label a decade; minor labels would overlap
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    how = "Sen's slope over seeds" if spec.get("derive") else "mean over seeds"
    ax.set_title(f"{claim}: exponent {_fmt(centre)} ({how}), {m['verdict']}", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(figures / f"{claim}__{m['metric']}__law.png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def _bootstrap_band(df, hue: str | None, n_boot: int = 2000, seed: int = 0):
    """Mean per level with a 95% percentile band from a bootstrap over seeds within each level (plots only)."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    out = []
    groups = df.groupby([hue, "level"]) if hue else df.groupby(["level"])
    for key, g in groups:
        v = g["value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        boots = rng.choice(v, size=(n_boot, v.size), replace=True).mean(axis=1)
        row = {"level": key[-1] if isinstance(key, tuple) else key, "mean": v.mean(),
               "lo": np.percentile(boots, 2.5), "hi": np.percentile(boots, 97.5)}
        if hue:
            row[hue] = key[0]
        out.append(row)
    return pd.DataFrame(out).sort_values("level") if out else pd.DataFrame(columns=["level", "mean", "lo", "hi"])


def _curves_figure(summary: Mapping[str, Any], figures: Path) -> None:
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    rows = [{"level_id": o["level_id"], "seed": o["seed"], "env_steps": s, "return": r}
            for o in summary["observations"] for s, r in zip(*o["curve"])]
    if not rows:
        return
    df = pd.DataFrame(rows)
    claim = summary["claim"]
    df.to_csv(figures / f"{claim}__curves.csv", index=False)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.lineplot(data=df, x="env_steps", y="return", hue="level_id", errorbar=("pi", 100), ax=ax,
                 estimator="mean", n_boot=0)
    ax.set_xlabel("env steps (gradient steps for offline agents)")
    ax.set_title(f"{claim}: evaluation return (mean; band = min..max over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(figures / f"{claim}__curves.png", dpi=110, metadata={"Software": None})
    plt.close(fig)


# --- markdown ---------------------------------------------------------------------------------------------------

def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v.replace("inf", "∞")
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v > 0 else "−∞"
        return f"{v:.{digits}g}"
    return str(v)


def _ci(st: Mapping[str, Any]) -> str:
    """The slope's interval, open at a bound that the test itself rejects (ties; see trend.TrendResult)."""
    return (f"{'(' if st.get('ci_low_open') else '['}{_fmt(st.get('ci_low'))}, "
            f"{_fmt(st.get('ci_high'))}{')' if st.get('ci_high_open') else ']'}")


def _levels(summary: Mapping[str, Any]) -> str:
    """The levels run at this budget (a claim may run a subset of its parametrized levels)."""
    values = {repr(lv["value"]): lv["value"] for lv in summary.get("levels") or summary["all_levels"]}
    return ", ".join(str(v) for v in values.values())  # each value once (a grid repeats them)


def _markdown(budget: str, summaries: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    created = sorted({r.get("created") for s in summaries for r in [_newest(s)] if r.get("created")})
    commits = sorted({c for s in summaries for c in s["provenance"]["commits"]})
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (trend.REPRODUCED, trend.CONTRADICTED,
                                                              trend.INCONCLUSIVE, "PLUMBING")}
    wall = sum(s["provenance"]["wall_time_s"] for s in summaries)
    lines = [f"# Scaling-claim report — budget `{budget}`", "",
             f"- Data as of: {created[-1] if created else '—'} (newest record); produced by commit(s): "
             f"{', '.join(c[:10] for c in commits) or '—'}",
             f"- Claims: {len(summaries)}; claim metrics: {len(rows)}: "
             + ", ".join(f"{n} {v}" for v, n in counts.items() if n),
             f"- Compute spent: {wall / 60:.1f} min of unit wall time, "
             f"{sum(s['provenance']['env_steps'] for s in summaries):,} env steps, "
             f"{sum(s['provenance']['flops'] for s in summaries):.3g} training FLOPs (estimate)", ""]
    if any(s.get("plumbing_only") for s in summaries):
        lines += ["**This budget checks plumbing only: it asserts no verdict.**", ""]
    alpha = summaries[0]["alpha"] if summaries else 0.05
    lines += ["## Summary", "",
              "Verdicts use each metric's raw one-sided permutation p against alpha; BH q is over the claim "
              "metrics of this report that a gate did not stop (gated and degenerate rows leave the family), "
              "and a verdict marked † does not survive it; p marked ‡ is the smallest this design can give. "
              f"Effect: Sen's slope per doubling (per level step on ordinal axes), in normalized units when "
              f"the claim gives reference scores, with its {1 - 2 * alpha:.0%} CI from inverting the same test, "
              "written [a, b], or (a, b] and [a, b) where the test itself rejects that bound (ties). S: Kendall's "
              "S within blocks and τ: Kendall's τ-b, both of the metric against the axis. MDE: the smallest "
              "slope this design detects with 80% power; paper: the effect the paper reports, in the same units. "
              "Learned: the levels that got at least the claim's gate (a tenth of the way from their untrained "
              "baseline to the reference, by default). UNDERPOWERED: INCONCLUSIVE with an MDE above the paper's "
              "effect. PROVISIONAL: some records were made by uncommitted code.", "",
              "| claim | metric | statement | source | axis: levels | direction | seeds | learned | S (τ) | p | "
              "BH q | effect [CI] | MDE | paper | MDE / paper | verdict | compute |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, st = r["summary"], r["stats"]
        lines.append(
            f"| [{s['claim']}](#{s['claim'].replace('_', '-')}) | {r['metric']} | {s['doc']['statement']} | "
            f"{_short(s['doc']['source'])} | {s['spec']['axis']}: {_levels(s)} | {r['direction']} | {len(s['seeds'])} | "
            f"{_learned(st)} | {_s_tau(st)} | {_p(r)} | "
            f"{_fmt(r['q']) if r.get('out_of_family') is None else '— (' + r['out_of_family'] + ')'} | "
            f"{_effect(st)} | {_fmt(st.get('mde'))} | {_fmt(st.get('paper_effect'))} | "
            f"{_fmt(st.get('mde_over_paper_effect'), 2)} | **{_verdict_label(r)}** | "
            f"{s['provenance']['wall_time_s'] / 60:.1f} min |")
    for s in summaries:
        lines += _claim_section(s)
    return "\n".join(lines) + "\n"


def _fmt_per_metric(v: Any) -> str:
    return ", ".join(f"`{k}` {_fmt(x)}" for k, x in v.items()) if isinstance(v, dict) else _fmt(v)


def _learned(st: Mapping[str, Any]) -> str:
    levels = (st.get("gates") or {}).get("levels") or {}
    if not levels:
        return "n/a" if st.get("gates") else "—"
    return f"{sum(v['learned'] for v in levels.values())}/{len(levels)}"


def _s_tau(st: Mapping[str, Any]) -> str:
    if not st or st.get("s_raw", st.get("statistic")) is None:
        return "—"
    return f"{_fmt(st.get('s_raw', st.get('statistic')))} ({_fmt(st.get('tau'), 2)})"


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


def _num_zero(v: Any) -> str:
    """A slope or exponent, written 0 when it is zero within rounding (e.g. 1.3e-15 from a fit)."""
    return "0" if isinstance(v, float) and abs(v) < 1e-9 else _fmt(v)


def _verdict_label(r: Mapping[str, Any]) -> str:
    label = r["verdict"] + ("" if r["survives_bh"] else " †")
    if r["stats"].get("underpowered"):
        label += " (UNDERPOWERED)"
    if r["summary"]["provenance"].get("dirty_records"):
        label += " (PROVISIONAL)"
    return label


def _newest(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {"created": summary["provenance"].get("newest_record")}


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _claim_section(s: Mapping[str, Any]) -> list[str]:
    spec, doc = s["spec"], s["doc"]
    out = ["", f"## {s['claim'].replace('_', '-')}", "", f"**{doc['statement']}**", "",
           f"- Source: {doc['source'] or '—'}", f"- Departures from the paper: {doc['departures'] or '—'}",
           f"- Pilot: {doc['pilot'] or '—'}",
           f"- Gates and paper effect: {doc.get('gates') or '—'}",
           f"- Spec: axis `{spec['axis']}` ({spec['scale']}), metrics "
           + ", ".join(f"`{k}` {v}" for k, v in spec["metrics"].items())
           + (f", margin {spec['margin']}/doubling" if spec["margin"] else "")
           + (f", threshold {spec['threshold']}/doubling" if spec["threshold"] else "")
           + (f", blocks {', '.join(spec['blocks'])}" if spec["blocks"] else "")
           + (f", normalized: random {spec['random_score']} → 0, reference {spec['reference_score']} → 1"
              if spec.get("random_score") is not None else "")
           + (f", contrast `{spec['contrast']}`" if spec.get("contrast") else "")
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
    if s.get("first_spec_hash") and s["first_spec_hash"] != s["spec_hash"]:
        out.append(f"- **Spec changed after the first records** (first {s['first_spec_hash']}, now {s['spec_hash']}): "
                   "the verdict rules were edited after data existed.")
    if s.get("shared_with"):
        out.append("- Runs shared with other claims (each run trained once, one record): "
                   + ", ".join(f"{n} with {c}" for c, n in sorted(s["shared_with"].items())))
    prov = s["provenance"]
    if prov["dirty_records"]:
        out.append(f"- Records made from uncommitted code: {', '.join(prov['dirty_records'])}")
    bad = [u for u in s["units"] if u["status"] != "ok"]
    if bad:
        out.append("- Units without a valid record: " + ", ".join(f"{u['path']} ({u['status']})" for u in bad))
    if prov.get("n_version_sets", 1) > 1:
        out.append(f"- Records come from {prov['n_version_sets']} different sets of package versions")
    out.append(f"- Versions: {', '.join(f'{k} {v}' for k, v in prov.get('versions', {}).items())}")
    for m in s["metrics"]:
        out += ["", f"### `{m['metric']}` ({m['direction']}): {m['verdict']}", "", m["reason"], ""]
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
                out += ["", f"Fitted law: {m['metric']} = {_fmt(law.get('floor'))} + {_fmt(law['a'])} · "
                        f"{law['x']}^{_num_zero(law['b'])} (R² {_fmt(law.get('r2'), 2)}, level means); exponent over "
                        f"seeds {_num_zero(law['exponent'])}, {law['level']:.0%} t-interval [{_num_zero(law['ci'][0])}, "
                        f"{_num_zero(law['ci'][1])}] (reported beside the verdict, not part of it)"]
            out += ["", f"![{s['claim']} law](figures/{s['claim']}__{m['metric']}__law.png) "
                    f"(data: `figures/{s['claim']}__{m['metric']}__law.csv`)"]
        elif law and "error" in law:
            out += ["", f"Fitted law: none ({law['error']})"]
    out += _beside_table(s)
    out += _task_iqm_table(s)
    out += ["", f"Learning curves: ![curves](figures/{s['claim']}__curves.png)"]
    return out


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
            cells.append(f"{v[np.isfinite(v)].mean():.4g}" if np.isfinite(v).any() else "—")
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
        lines.append(f"| {level_id} | {trend.iqm(grid):.3g} [{lo:.3g}, {hi:.3g}] | {grid.shape[0]} x {len(tasks)} |")
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
        mean = f"{fin.mean():.3g} ± {fin.std(ddof=1) if fin.size > 1 else 0:.2g}" if fin.size else "—"
        per_seed = ", ".join("div" if not math.isfinite(x) else f"{x:.3g}" for x in v)
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
        line += (f" p={s['p']:.3g} slope={_signed(s['slope'])} CI [{_signed(s['ci_low'])}, {_signed(s['ci_high'])}] "
                 f"{s.get('unit', '')}" + (f"  MDE={_signed(s['mde'])}" if "mde" in s else ""))
    else:
        line += f" {m['reason']}"
    return line


def _signed(v: Any) -> str:
    """A statistic for display: 3 significant digits; inf and None as written."""
    return f"{v:+.3g}" if isinstance(v, (int, float)) else str(v)
