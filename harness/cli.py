"""python -m harness {list,data,verdict,report,show}: the DVC stages' entry points and a look at results.

- ``list``: the claims in params.yaml, their agent, settings at the budget and record status.
- ``data``: build (or find) the offline datasets that the claims' settings at the budget name (``data:``).
- ``verdict [CLAIM ...]``: records -> ``reports/<budget>/claims/<id>.json`` (the committed summaries),
  for each claim whose design exists under ``results/<budget>/`` (written when pytest collects it).
- ``report``: summaries -> ``reports/<budget>/report.md``, figures and ``verdicts.json``.
- ``show CLAIM``: one claim's per-level numbers and verdicts, from its summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    for name in ("list", "data", "verdict", "report", "show"):
        p = sub.add_parser(name)
        _common(p)
        if name == "verdict":
            p.add_argument("claims", nargs="*", help="default: every claim in params.yaml")
        if name == "show":
            p.add_argument("claim")
    args = parser.parse_args(argv)
    try:
        params = Params.load(args.params)
        budget = params.budget(args.budget).name
        commands = {"list": cmd_list, "data": cmd_data, "verdict": cmd_verdict, "report": cmd_report,
                    "show": cmd_show}
        return commands[args.cmd](args, params, budget)
    except (ParamsError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def cmd_list(args, params: Params, budget: str) -> int:
    for claim in params.claims:
        entry = params.claim_entry(claim)
        file = Path("claims") / f"test_{claim}.py"
        design = Path(args.results) / budget / claim / "design.json"
        status = "not run"
        if design.exists():
            from harness.records import lookup
            d = json.loads(design.read_text())
            ok = sum(lookup(Path(args.results) / u["path"], u["key"]).status == "ok" for u in d["units"])
            status = f"{ok}/{len(d['units'])} units recorded"
        minutes = params.expected_minutes(claim, budget)
        print(f"{claim:<24} agent={entry.get('agent', '?'):<8} {budget}: {dict(entry.get(budget) or {})} "
              f"{'' if file.exists() else '(MISSING FILE ' + str(file) + ') '}"
              f"{'~' + str(minutes) + ' min, ' if minutes else ''}{status}")
    return 0


def cmd_data(args, params: Params, budget: str) -> int:
    from harness.offline import DataConfig, dataset, root_dir

    root_dir().mkdir(parents=True, exist_ok=True)  # the DVC stage's output, even when no claim needs data
    built = set()
    for claim in params.claims:
        data = params.settings(claim, budget).get("data")
        if data is None:
            continue
        cfg = DataConfig(**data)
        if cfg.key not in built:
            d = dataset(cfg)
            built.add(cfg.key)
            print(f"{d.path}: {d.card['transitions']} transitions, {d.card['episodes']} episodes, "
                  f"{d.card['bytes'] / 2**20:.1f} MiB (card: {d.path / 'card.md'})")
        print(f"{claim}: dataset {cfg.key}")
    if not built:
        print(f"no claim sets `data:` at budget {budget}")
    return 0


def cmd_verdict(args, params: Params, budget: str) -> int:
    from harness.records import atomic_write_json, lookup
    from harness.verdict import assess_claim

    claims = args.claims or params.claims
    out_dir = Path(args.reports) / budget / "claims"
    for claim in claims:
        design_path = Path(args.results) / budget / claim / "design.json"
        if not design_path.exists():
            print(f"{claim}: no design at {design_path} (run `pytest claims/test_{claim}.py --budget {budget}`); "
                  "keeping its committed summary, if any")
            continue
        design = json.loads(design_path.read_text())
        lookups = {u["path"]: lookup(Path(args.results) / u["path"], u["key"]) for u in design["units"]}
        summary = assess_claim(design, lookups, alpha=params.alpha, permutations=params.permutations)
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
    from harness.verdict import summary_line

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
