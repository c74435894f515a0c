"""python -m harness {list,data,verdict,report,show,gc,verify,plan}: the DVC stages' entry points and a look at results.

- ``list``: the claims in params.yaml, their agent, settings at the budget and record status.
- ``data``: build (or find) the offline datasets that the claims' settings at the budget name (``data:``).
- ``verdict [CLAIM ...]``: records -> ``reports/<budget>/claims/<id>.json`` (the committed summaries), for
  each claim whose design was written by a run (``results/<budget>/claims/<id>.json``).
- ``report``: summaries -> ``reports/<budget>/report.md``, figures and ``verdicts.json``.
- ``show CLAIM``: one claim's per-level numbers and verdicts, from its summary.
- ``status``: per claim, the runs it plans now: recorded, missing, corrupt, whether its committed design is
  stale, and the expected time to finish with the configured workers; then the total.
- ``gc``: remove the records that no claim design refers to (``--dry-run`` lists them).
- ``verify``: re-run randomly chosen committed runs within ``--minutes`` and compare every metric with the
  record (bit for bit on CPU); non-zero exit on any mismatch.
- ``plan CLAIM``: the power of the claim's test at the budget's design (MDE) and the seeds needed to see the
  paper's effect (``paper_effect=``), from a noise sd (``--sd``, or the claim's records); trains nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from harness.budget import Params, ParamsError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--budget", default=None, help="default: `budget:` in params.yaml")
    p.add_argument("--results", default="results")
    p.add_argument("--reports", default="reports")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("list", "data", "verdict", "report", "show", "status", "gc", "verify"):
        p = sub.add_parser(name)
        _common(p)
        if name == "verdict":
            p.add_argument("claims", nargs="*", help="default: every claim in params.yaml")
        if name == "show":
            p.add_argument("claim")
        if name == "gc":
            p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
        if name == "verify":
            p.add_argument("--claim", action="append", default=None, help="only this claim's runs (repeatable)")
            p.add_argument("--minutes", type=float, default=10.0, help="wall-time budget (default 10)")
            p.add_argument("--workers", type=int, default=None, help="parallel runs (default: the number of cores)")
            p.add_argument("--seed", type=int, default=None, help="seed of the random choice (default: random)")
    p = sub.add_parser("plan", help="seeds needed to see the paper's effect (harness/power.py); trains nothing")
    _common(p)
    p.add_argument("claim")
    p.add_argument("--sd", action="append", default=None, metavar="SD|METRIC=SD",
                   help="noise sd in the claim's units (normalized where the claim normalizes), for every metric "
                        "or, repeated, per metric; default: from the claim's records at the budget, else at "
                        "--pilot-budget")
    p.add_argument("--pilot-budget", default=None, help="estimate the sd from the claim's records at this budget")
    p.add_argument("--power", type=float, default=0.8, help="power against the paper's effect (default 0.8)")
    p.add_argument("--max-seeds", type=int, default=100, help="largest number of seeds searched (default 100)")
    p.add_argument("--simulations", type=int, default=1000, help="noise draws per MDE (default 1000)")
    args = parser.parse_args(argv)
    try:
        params = Params.load(args.params)
        budget = params.budget(args.budget).name
        commands = {"list": cmd_list, "data": cmd_data, "verdict": cmd_verdict, "report": cmd_report,
                    "show": cmd_show, "status": cmd_status, "gc": cmd_gc, "verify": cmd_verify, "plan": cmd_plan}
        return commands[args.cmd](args, params, budget)
    except (ParamsError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def design_path(args, budget: str, claim: str) -> Path:
    return Path(args.results) / budget / "claims" / f"{claim}.json"


def load_designs(args, budget: str, claims: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The designs written by runs at ``budget`` (claim -> design dict)."""
    out = {}
    for path in sorted((Path(args.results) / budget / "claims").glob("*.json")):
        if claims is None or path.stem in claims:
            out[path.stem] = json.loads(path.read_text())
    return out


def cmd_list(args, params: Params, budget: str) -> int:
    from harness.records import lookup
    for claim in params.claims:
        entry = params.claim_entry(claim)
        file = Path("claims") / f"test_{claim}.py"
        path = design_path(args, budget, claim)
        status = "not run"
        if path.exists():
            d = json.loads(path.read_text())
            ok = sum(lookup(Path(args.results) / u["path"], u["key"]).status == "ok" for u in d["units"])
            status = f"{ok}/{len(d['units'])} units recorded"
        minutes = params.expected_minutes(claim, budget)
        print(f"{claim:<24} agent={entry.get('agent', '?'):<8} {budget}: {dict(entry.get(budget) or {})} "
              f"{'' if file.exists() else '(MISSING FILE ' + str(file) + ') '}"
              f"{'~' + str(minutes) + ' min, ' if minutes else ''}{status}")
    return 0


def cmd_data(args, params: Params, budget: str) -> int:
    """Build (or find) the datasets of the claims at ``budget``; ``data/offline-<budget>.json`` indexes them (the
    DVC stage's output, committed, so that a fresh clone with committed records needs no dataset)."""
    from harness.offline import DataConfig, dataset, root_dir
    from harness.records import atomic_write_json

    root_dir().mkdir(parents=True, exist_ok=True)
    built: dict[str, dict[str, Any]] = {}
    index: dict[str, str] = {}
    for claim in params.claims:
        data = params.settings(claim, budget).get("data")
        if data is None:
            continue
        cfg = DataConfig(**data)
        if cfg.key not in built:
            d = dataset(cfg)
            built[cfg.key] = {k: d.card[k] for k in ("content_hash", "transitions", "episodes", "bytes")}
            print(f"{d.path}: {d.card['transitions']} transitions, {d.card['episodes']} episodes, "
                  f"{d.card['bytes'] / 2**20:.1f} MiB (card: {d.path / 'card.md'})")
        index[claim] = cfg.key
        print(f"{claim}: dataset {cfg.key}")
    if not built:
        print(f"no claim sets `data:` at budget {budget}")
    atomic_write_json(root_dir().parent / f"offline-{budget}.json", {"claims": index, "datasets": built})
    return 0


def cmd_verdict(args, params: Params, budget: str) -> int:
    from harness.records import atomic_write_json, lookup
    from harness.verdict import assess_claim

    claims = args.claims or params.claims
    out_dir = Path(args.reports) / budget / "claims"
    designs = load_designs(args, budget)
    for claim in claims:
        if claim not in designs:
            print(f"{claim}: no design at {design_path(args, budget, claim)} (run `pytest claims/test_{claim}.py "
                  f"--budget {budget}`); keeping its committed summary, if any")
            continue
        design = designs[claim]
        lookups = {u["path"]: lookup(Path(args.results) / u["path"], u["key"]) for u in design["units"]}
        summary = assess_claim(design, lookups, alpha=params.alpha, permutations=params.permutations)
        keys = {u["key"] for u in design["units"]}
        summary["shared_with"] = {other: sum(u["key"] in keys for u in d["units"])
                                  for other, d in designs.items() if other != claim
                                  and any(u["key"] in keys for u in d["units"])}
        out = out_dir / f"{claim}.json"
        previous = json.loads(out.read_text()) if out.exists() else {}
        summary["first_spec_hash"] = previous.get("first_spec_hash") or summary["spec_hash"]
        atomic_write_json(out, summary)
        verdicts = ", ".join(f"{m['metric']}: {m['verdict']}" for m in summary["metrics"])
        print(f"{claim}: {verdicts} -> {out}")
    return 0


def cmd_report(args, params: Params, budget: str) -> int:
    from harness.report import build
    path = build(Path(args.reports), budget, params.claims)
    print(f"report: {path}")
    return 0


def cmd_show(args, params: Params, budget: str) -> int:
    from harness.report import _level_table
    from harness.report import summary_line

    path = Path(args.reports) / budget / "claims" / f"{args.claim}.json"
    if not path.exists():
        print(f"error: no summary {path}; run `python -m harness verdict {args.claim} --budget {budget}`",
              file=sys.stderr)
        return 2
    s = json.loads(path.read_text())
    print(f"{s['claim']} ({budget}): {s['doc']['statement']}\n")
    for m in s["metrics"]:
        print("\n".join(_level_table(s, m["metric"])))
        print(summary_line(s["claim"], m), "\n")
    return 0


def cmd_status(args, params: Params, budget: str) -> int:
    """What each claim plans now and how much of it is recorded; the expected time for the rest."""
    import os

    from harness import design as designs
    from harness.records import lookup

    planned = designs.build_all(params, params.budget(budget), "cpu")
    committed = load_designs(args, budget)
    workers = int((params.data.get("execution") or {}).get("workers") or os.cpu_count() or 1)
    seen: set[str] = set()
    total_s, total_missing = 0.0, 0
    print(f"{'claim':<26}{'runs':>6}{'recorded':>10}{'missing':>9}{'corrupt':>9}  design    expected (serial)")
    for claim, d in planned.items():
        keys = {u.key: u for u in d.units}
        states = {k: lookup(Path(args.results) / u.path, k).status for k, u in keys.items()}
        missing = [k for k, v in states.items() if v != "ok" and k not in seen]
        seen.update(keys)
        minutes = params.expected_minutes(claim, budget)
        expected = None if minutes is None else 60.0 * minutes * len(missing) / max(len(keys), 1)
        total_s += expected or 0.0
        total_missing += len(missing)
        c = committed.get(claim)
        design = ("none" if c is None else "current" if {u["key"] for u in c["units"]} == set(keys) else "stale")
        print(f"{claim:<26}{len(keys):>6}{sum(v == 'ok' for v in states.values()):>10}{len(missing):>9}"
              f"{sum(v == 'corrupt' for v in states.values()):>9}  {design:<9} "
              + ("—" if not missing else "?" if expected is None else _duration(expected)))
    print(f"total: {total_missing} runs to compute (runs shared between claims counted once), about "
          f"{_duration(total_s)} serial, {_duration(total_s / workers)} on {workers} workers (params.yaml minutes, "
          "measured on the 2-core reference machine)")
    return 0


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def cmd_gc(args, params: Params, budget: str) -> int:
    """Remove records under results/*/runs/ that no design under results/*/claims/ refers to."""
    root = Path(args.results)
    referred = {u["path"] for d in root.glob("*/claims/*.json") for u in json.loads(d.read_text())["units"]}
    orphans = [p for p in sorted(root.glob("*/runs/*/*.json")) if p.relative_to(root).as_posix() not in referred]
    size = sum(p.stat().st_size for p in orphans)
    for p in orphans:
        print(("would remove " if args.dry_run else "removed ") + str(p))
        if not args.dry_run:
            p.unlink()
    print(f"{len(orphans)} records ({size / 2**20:.2f} MiB) that no claim design refers to"
          + (" (dry run: nothing removed)" if args.dry_run else " removed"))
    return 0


def cmd_verify(args, params: Params, budget: str) -> int:
    """Re-run randomly chosen committed runs within the time given and compare them with their records."""
    from harness import design as designs
    from harness.execute import Unit, make_executor
    from harness.records import lookup

    committed = load_designs(args, budget, args.claim)
    if not committed:
        print(f"error: no claim designs under {Path(args.results) / budget / 'claims'}"
              + (f" for {args.claim}" if args.claim else "") + "; run the claims first", file=sys.stderr)
        return 2
    wanted: dict[str, dict[str, Any]] = {}  # key -> {path, labels}
    for claim, d in committed.items():
        for u in d["units"]:
            w = wanted.setdefault(u["key"], {"path": u["path"], "labels": [], "seeds": u["seeds"]})
            w["labels"].append(f"{claim} {u['level_id']}")
    planned = designs.build_all(params, params.budget(budget), "cpu", list(committed))
    plans = {u.key: u.plan for d in planned.values() for u in d.units}
    rows, stale, missing, candidates = [], [], [], []
    for key, w in wanted.items():
        found = lookup(Path(args.results) / w["path"], key)
        if found.status != "ok":
            missing.append((key, w, found.status))
        elif key not in plans:
            stale.append((key, w))
        else:
            candidates.append((key, w, found.record))
    rng = random.Random(args.seed)
    rng.shuffle(candidates)
    workers = args.workers or __import__("os").cpu_count() or 1
    capacity = args.minutes * 60.0 * workers
    chosen, used = [], 0.0
    for key, w, rec in candidates:
        cost = float(rec.provenance.get("wall_time") or 0.0)
        if used + cost <= capacity:
            chosen.append((key, w, rec))
            used += cost
    print(f"verify {budget}: {len(wanted)} committed runs; {len(chosen)} chosen at random to fit {args.minutes:g} "
          f"min on {workers} workers (~{used / 60 / workers:.1f} min by their recorded wall times); "
          f"{len(stale)} stale, {len(missing)} without a valid record")
    executor = make_executor("local", workers=workers)
    start = time.perf_counter()
    futures = [(key, w, rec, executor.submit(Unit(key=key, plan=plans[key], label=", ".join(w["labels"]))))
               for key, w, rec in chosen]
    bad = 0
    try:
        for key, w, rec, fut in futures:
            try:
                out = fut.result()
                diffs = compare(rec, out)
            except Exception as e:  # noqa: BLE001 - reported as a failed verification
                diffs = [f"the run failed: {type(e).__name__}: {e}"]
            bad += bool(diffs)
            rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}",
                         f"{rec.provenance.get('wall_time', 0):.0f}s", f"{out.get('_wall_time', math.nan):.0f}s"
                         if not diffs or "failed" not in diffs[0] else "-",
                         "MATCH" if not diffs else "MISMATCH: " + "; ".join(diffs[:3])))
    finally:
        executor.shutdown(cancel=True)
    for key, w in stale:
        bad += 1
        rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}", "-", "-",
                     "STALE: the claim now plans another run (code or params changed since the record)"))
    for key, w, status in missing:
        bad += 1
        rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}", "-", "-",
                     f"NO RECORD ({status})"))
    header = ("unit", "seeds", "recorded", "now", "result")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(wd) for c, wd in zip(r[:4], widths)) + "  " + r[4])
    print(f"{len(chosen) - sum(1 for r in rows[:len(chosen)] if r[4] != 'MATCH')} of {len(chosen)} re-run units "
          f"matched their records bit for bit ({time.perf_counter() - start:.0f} s)"
          + (f"; {bad} problems" if bad else ""))
    return 1 if bad else 0


def compare(record, out: dict[str, Any], rtol: float = 0.0) -> list[str]:
    """Differences between a record's members and a fresh run's (exact on CPU; ``rtol`` on other devices)."""
    from harness.result import RunResult
    fresh = RunResult.from_dict({**out, "config": {}})
    if record.device != "cpu":
        rtol = rtol or 1e-4
    diffs = []

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
            return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= rtol * max(abs(a), abs(b))
        return a == b

    if [m.seed for m in fresh.members] != [m.seed for m in record.result.members]:
        return ["different seeds"]
    for old, new in zip(record.result.members, fresh.members):
        for name in sorted(set(old.metrics) | set(new.metrics)):
            if not same(old.metrics.get(name, math.nan), new.metrics.get(name, math.nan)):
                diffs.append(f"seed {old.seed} {name}: {old.metrics.get(name)} vs {new.metrics.get(name)}")
        for what in ("curve_steps", "curve_returns", "env_steps", "updates", "diverged"):
            a, b = getattr(old, what), getattr(new, what)
            if isinstance(a, list) and not (len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))):
                diffs.append(f"seed {old.seed} {what} differ")
            elif not isinstance(a, list) and not same(a, b):
                diffs.append(f"seed {old.seed} {what}: {a} vs {b}")
    return diffs


def _plan_rows(results: Path, budget: str, claim: str, spec) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """One row per member of the claim's valid records at ``budget`` (value on the axis, seed, metrics), and
    the design file; None when the claim has no design file there."""
    from harness.records import lookup
    path = results / budget / "claims" / f"{claim}.json"
    if not path.exists():
        return None
    design = json.loads(path.read_text())
    rows = []
    for u in design["units"]:
        found = lookup(results / u["path"], u["key"])
        if found.status != "ok":
            continue
        for m in found.record.result.members:
            rows.append({"value": u["params"][spec.axis], "seed": m.seed, "metrics": dict(m.metrics),
                         "diverged": m.diverged, "curve": (m.curve_steps, m.curve_returns)})
    if spec.reach is not None and rows:  # computed from the curves, as the verdict does
        from harness.verdict import steps_to_threshold
        horizon = max(max(r["curve"][0], default=0) for r in rows)
        for r in rows:
            r["metrics"]["steps_to_threshold"] = steps_to_threshold(*r["curve"], spec.reach, horizon)
    return rows, design


def _plan_noise(rows: list[dict[str, Any]], spec, metric: str, all_levels: list[Any]):
    """(NoiseEstimate or None, level means) of one metric: normalized with the spec, controls, NaN and
    diverged runs left out."""
    import numpy as np

    from harness import power
    from harness.claim import axis_coordinate
    controls = {repr(c) for c in spec.controls or ()}
    keep = [r for r in rows if repr(r["value"]) not in controls and not r["diverged"]]
    y = spec.normalize(np.array([r["metrics"].get(metric, math.nan) for r in keep], dtype=float))
    ok = np.isfinite(y)
    keep, y = [r for r, k in zip(keep, ok) if k], y[ok]
    if not keep:
        return None, {}
    x = np.array([axis_coordinate(spec, r["value"], all_levels) for r in keep])
    means = {}
    for r, v in zip(keep, y):
        means.setdefault(repr(r["value"]), []).append(float(v))
    means = {k: sum(v) / len(v) for k, v in means.items()}
    est = power.noise_estimate(x, y, np.array([r["seed"] for r in keep]) if spec.blocks else None)
    return (est if math.isfinite(est.sd) else None), means


def cmd_plan(args, params: Params, budget: str) -> int:
    """The claim's power at the budget's design and the seeds it needs to see the paper's effect."""
    from harness import design as designs
    from harness import power
    from harness.claim import ClaimSpecError, axis_coordinate, metric_value

    claim = args.claim
    try:
        d = designs.build_all(params, params.budget(budget), "cpu", [claim])[claim]
    except ClaimSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = d.spec
    if spec.derive or spec.contrast:
        kind = f"derived (derive={spec.derive!r})" if spec.derive else f"contrast (contrast={spec.contrast!r})"
        print(f"{claim}: plan does not cover {kind} claims yet")
        return 0
    others = sorted({k for u in d.units for k in u.params} - {spec.axis})
    if others or set(spec.blocks) - {"seed"}:
        print(f"{claim}: plan covers claims swept over their axis alone (blocks: seed or none); this one also "
              f"sweeps {', '.join(others) or ', '.join(spec.blocks)}")
        return 0
    if not 0 < args.power < 1:
        print(f"error: --power must lie in (0, 1), got {args.power}", file=sys.stderr)
        return 2
    given_sd: dict[str | None, float] = {}
    for item in args.sd or []:
        name, _, value = item.rpartition("=")
        try:
            sd_value = float(value)
        except ValueError:
            sd_value = math.nan
        if not (math.isfinite(sd_value) and sd_value >= 0) or (name and name not in spec.metrics):
            print(f"error: --sd {item!r}: give a finite number >= 0, or METRIC=SD with METRIC one of "
                  f"{', '.join(spec.metrics)}", file=sys.stderr)
            return 2
        given_sd[name or None] = sd_value
    controls = {repr(c) for c in spec.controls or ()}
    all_levels = [v for v in d.axis_values if repr(v) not in controls]  # as the verdict indexes ordinal levels
    levels = [v for v in d.kept if repr(v) not in controls]
    x_levels = [axis_coordinate(spec, v, all_levels) for v in levels]
    seeds, blocked = d.budget.seeds, "seed" in spec.blocks
    unit = "per doubling" if spec.scale == "log" else "per level step"
    units_note = " (normalized: random 0, reference 1)" if spec.normalized else ""
    results = Path(args.results)

    sources: list[tuple[str, list[dict[str, Any]]]] = []
    for b in [budget] + ([args.pilot_budget] if args.pilot_budget and args.pilot_budget != budget else []):
        found = _plan_rows(results, b, claim, spec)
        if found and found[0]:
            sources.append((b, found[0]))

    print(f"{claim} at budget {budget}: {d.doc.get('statement', '')}")
    coords = ", ".join(f"{v:g}" for v in x_levels)
    print(f"  design: {len(levels)} levels {levels} (x = {'log2 level' if spec.scale == 'log' else 'level index'}: "
          f"{coords}) x {seeds} seeds, {'blocked by seed' if blocked else 'unblocked'}; alpha={d.alpha:g}"
          + (f"; controls {list(spec.controls)} left out" if spec.controls else "")
          + ("; smoke budget: plumbing only" if d.budget.plumbing_only else ""))
    missing = []
    for metric, direction in spec.metrics.items():
        sd = given_sd.get(metric, given_sd.get(None))
        source = "--sd"
        if sd is None:
            for b, rows in sources:
                est, _ = _plan_noise(rows, spec, metric, all_levels)
                if est is not None:
                    sd = est.sd
                    source = (f"records at budget {b}: {est.n} runs, {est.levels} level(s), df={est.df}"
                              + (", seed offsets removed" if est.blocked else
                                 ", seed offsets not separable: an upper estimate" if spec.blocks else ""))
                    break
        print(f"\n  {metric} ({direction}{f', threshold {spec.threshold:g}' if spec.threshold else ''}"
              f"{f', margin {spec.margin:g}' if spec.margin and direction.startswith('non_') else ''})")
        if sd is None:
            missing.append(metric)
            print("    sd: not available (no --sd for it, and no valid records of this metric"
                  + (f" at budget {budget}" + (f" or {args.pilot_budget}" if args.pilot_budget else "")) + ")")
            continue
        paper = metric_value(spec.paper_effect, metric)
        p = power.plan_metric(metric, direction, levels, x_levels, seeds, sd, sd_source=source, blocked=blocked,
                              paper_effect=paper, threshold=spec.threshold, margin=spec.margin, alpha=d.alpha,
                              power=args.power, max_seeds=args.max_seeds, n_sim=args.simulations,
                              n_permutations=d.permutations, unit=unit)
        boundary = f" beyond the boundary {p.shift:+g}" if p.shift else ""
        print(f"    sd: {p.sd:.3g}{units_note} ({p.sd_source})")
        print(f"    MDE at this design: {p.mde:.3g} {unit}{boundary} ({p.power:.0%} power, {p.method} test, "
              f"smallest p {p.min_p:.3g})")
        if p.effect is None:
            print(f"    paper effect: {'unknown' if paper == 'unknown' else 'not given'}")
        else:
            distance = f" ({p.effect:.3g} beyond the boundary)" if p.shift else ""
            print(f"    paper effect: {float(paper):g} {unit}{distance}"
                  + (f"; MDE / paper effect: {p.ratio:.2f}" if p.ratio is not None else ""))
            if p.effect > 0:
                needed = str(p.seeds_needed) if p.seeds_needed is not None else f"more than {p.max_seeds}"
                needed += " (the fewest searched)" if p.seeds_needed == 2 else ""
                print(f"    seeds for {p.power:.0%} power against the paper effect: {needed} "
                      f"(normal approximation: {p.normal_seeds:.3g})")
        print(f"    conclusion: {p.conclusion}")

    budgets_with_records = []
    for path in sorted(results.glob(f"*/claims/{claim}.json")):
        found = _plan_rows(results, path.parent.parent.name, claim, spec)
        if found and found[0]:
            budgets_with_records.append((path.parent.parent.name, found))
    if len(budgets_with_records) < 2:
        print("\n  steps: not estimable from one budget's records")
    else:
        print(f"\n  steps: records at {len(budgets_with_records)} budgets; how the noise and level means changed "
              "between them (not extrapolated):")
        for b, (rows, design) in budgets_with_records:
            steps = (design.get("settings") or {}).get("steps")
            for metric in spec.metrics:
                est, means = _plan_noise(rows, spec, metric, all_levels)
                sd_text = f"{est.sd:.3g}" if est is not None else "n/a"
                print(f"    {b} (steps={steps if steps is not None else '?'}) {metric}: sd {sd_text}, level means "
                      + ", ".join(f"{k}: {v:.3g}" for k, v in means.items()))
    if missing:
        lid = next(u.level_id for u in d.units if repr(u.params[spec.axis]) not in controls)
        clash = sorted({u.level_id for u in d.units if u.level_id != lid and lid in u.level_id})
        k = lid if not clash else f"{lid} and not " + " and not ".join(clash)
        k = f'"{k}"' if clash else k
        print(f"\nno noise estimate for {', '.join(missing)}: run the smallest level first,\n"
              f"  pytest claims/test_{claim}.py -k {k} --budget {budget}\n"
              f"then `python -m harness plan {claim} --budget {budget}` again, or use records at another budget "
              f"(--pilot-budget B), or pass --sd SD (in the claim's units{units_note}).", file=sys.stderr)
        return 2
    return 0
