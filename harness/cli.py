"""python -m harness {list,data,verdict,report,show,gc,verify,plan}: the DVC stages' entry points and a look at results.

- ``list``: the claims in params.yaml, their agent, settings at the budget and record status.
- ``data``: build (or find) the offline datasets (``data:``) and pretrained LMs (``pretrain:``) that the claims'
  settings at the budget name (``--kind offline``, the default, or ``lm``).
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

Every command works from any directory of the project: with the default ``--params`` it uses the nearest
params.yaml (this directory, else the first parent that has params.yaml and claims/) and resolves the default
``--results`` and ``--reports`` there. Bad input (an unknown claim, a damaged design or summary file, a file
where a directory should be) is one ``error:`` paragraph naming the file and the fix, exit status 2; an
unexpected exception is ``error: <Type>: <message>``, exit status 2 (``HARNESS_DEBUG=1`` shows the traceback).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

from harness.budget import Params, ParamsError

DEBUG_HINT = "(run with HARNESS_DEBUG=1 for the traceback)"


class CliError(Exception):
    """Bad input the user can fix (an unknown claim, a damaged file, a file where a directory should be): the
    message names what is wrong and what to do; ``main`` prints it and exits 2."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None,
                   help="default: params.yaml here, else in the nearest parent directory that has params.yaml "
                        "and claims/ (the project root)")
    p.add_argument("--budget", default=None, help="default: `budget:` in params.yaml")
    p.add_argument("--results", default=None, help="default: results/ at the project root")
    p.add_argument("--reports", default=None, help="default: reports/ at the project root")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("list", "data", "verdict", "report", "show", "status", "gc", "verify"):
        p = sub.add_parser(name)
        _common(p)
        if name == "data":
            p.add_argument("--kind", choices=("offline", "lm"), default="offline",
                           help="the offline datasets (default) or the pretrained LMs")
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
                        "--pilot-budget. For a contrast claim SD is the sd of one arm's runs (the same in both "
                        "arms), and the paired difference's sd is taken as sqrt(2) x SD (independent arms); its "
                        "records give the difference's sd directly")
    p.add_argument("--pilot-budget", default=None, help="estimate the sd from the claim's records at this budget")
    p.add_argument("--power", type=float, default=0.8, help="power against the paper's effect (default 0.8)")
    p.add_argument("--max-seeds", type=int, default=100, help="largest number of seeds searched (default 100)")
    p.add_argument("--simulations", type=int, default=1000, help="noise draws per MDE (default 1000)")
    args = parser.parse_args(argv)
    try:
        find_project(args)
        params = Params.load(args.params)
        budget = params.budget(args.budget).name
        commands = {"list": cmd_list, "data": cmd_data, "verdict": cmd_verdict, "report": cmd_report,
                    "show": cmd_show, "status": cmd_status, "gc": cmd_gc, "verify": cmd_verify, "plan": cmd_plan}
        return commands[args.cmd](args, params, budget)
    except Exception as e:  # noqa: BLE001 - every failure becomes one paragraph and exit status 2
        if _expected(e):
            print(f"error: {e}", file=sys.stderr)
            return 2
        if os.environ.get("HARNESS_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {type(e).__name__}: {e}\n{DEBUG_HINT}", file=sys.stderr)
        return 2


def _expected(e: BaseException) -> bool:
    """Errors whose message already says what to fix: bad input, params.yaml, a claim marker."""
    if isinstance(e, (CliError, ParamsError)):
        return True
    claim = sys.modules.get("harness.claim")  # not imported up front: it pulls in numpy and scipy
    return claim is not None and isinstance(e, claim.ClaimSpecError)


# --- where the project is ----------------------------------------------------------------------------------

def project_root(start: Path) -> Path | None:
    """The nearest directory from ``start`` up that has params.yaml and a claims/ folder."""
    for d in [start, *start.parents]:
        if (d / "params.yaml").is_file() and (d / "claims").is_dir():
            return d
    return None


def find_project(args) -> None:
    """Fill in the default ``--params``, ``--results`` and ``--reports``: params.yaml of this directory, else of
    the nearest parent project (then the defaults resolve there, and so do the offline datasets)."""
    results, reports = args.results or "results", args.reports or "reports"
    if args.params is None and not Path("params.yaml").exists():
        root = project_root(Path.cwd().resolve())
        if root is None:
            raise CliError("no params.yaml here or in any parent directory; run from the project root or pass "
                           "--params")
        print(f"(project root: {root})", file=sys.stderr)
        args.params = str(root / "params.yaml")
        results = args.results or str(root / "results")
        reports = args.reports or str(root / "reports")
        args.found_root = root
    args.params = args.params or "params.yaml"
    args.results, args.reports = results, reports


def project_dir(args) -> Path:
    """The directory of the params.yaml in use (``.`` at the project root)."""
    return Path(args.params).parent


def data_root(args, kind: str = "offline") -> Path:
    """Where the offline datasets (``kind`` "offline": harness.offline's ``root_dir()``) or the pretrained LMs
    ("lm": harness.lm's) are, at the project root when the project was found above the working directory (their
    defaults, data/offline and data/lm, are relative to the working directory)."""
    if kind == "offline":
        from harness.offline import root_dir
    else:
        from harness.lm import root_dir
    root = root_dir()
    found = getattr(args, "found_root", None)
    return found / root if found is not None and not root.is_absolute() else root


def check_known(params: Params, claims: list[str]) -> None:
    unknown = [c for c in claims if c not in params.claims]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise CliError(f"unknown claim{'s' if len(unknown) > 1 else ''} {names}; claims in {params.path}: "
                       f"{', '.join(params.claims) or '(none)'}. A new claim needs claims/test_<id>.py and an "
                       "entry `claims.<id>` in params.yaml (README, Adding a claim)")


# --- reading the CLI's files -------------------------------------------------------------------------------

def read_json(path: Path, what: str, fix: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """The one way the CLI reads a JSON file. A file that cannot be read, is not JSON, or that ``check`` rejects
    (it returns what is wrong, or None) is a CliError naming the file, what it should hold and the fix."""
    path = Path(path)
    try:
        text = path.read_text()
    except IsADirectoryError:
        problem = "is a directory, not a file"
    except FileNotFoundError:
        problem = "does not exist"
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        problem = f"cannot be read ({type(e).__name__}: {e})"
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            problem = ("is empty" if not text.strip() else
                       f"is not valid JSON ({getattr(e, 'msg', e)}, line {getattr(e, 'lineno', '?')} column "
                       f"{getattr(e, 'colno', '?')}: truncated or damaged)")
        else:
            problem = check(data) if check is not None else None
            if problem is None:
                return data
    raise CliError(f"{path} {problem}; it should hold {what}. {fix}")


def _shape(data: Any, keys: tuple[str, ...], what: str) -> str | None:
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not {what} (a JSON object)"
    missing = [k for k in keys if k not in data]
    return f"lacks {', '.join(missing)}" if missing else None


DESIGN_KEYS = ("claim", "budget", "spec", "doc", "all_levels", "levels", "seeds", "units")
UNIT_KEYS = ("level_id", "params", "seeds", "key", "path")
SUMMARY_KEYS = ("claim", "doc", "spec", "metrics", "observations")


def _design_problem(d: Any) -> str | None:
    problem = _shape(d, DESIGN_KEYS, "a claim design")
    if problem is None and not (isinstance(d["units"], list) and all(
            _shape(u, UNIT_KEYS, "a unit") is None and isinstance(u["path"], str) and isinstance(u["key"], str)
            for u in d["units"])):
        problem = f"has malformed units (each needs {', '.join(UNIT_KEYS)})"
    return problem


def read_design(path: Path, budget: str) -> dict[str, Any]:
    """A claim design, ``results/<budget>/claims/<id>.json``, checked for the fields the CLI reads."""
    claim = Path(path).stem
    return read_json(path, f"the design of claim {claim!r} that `pytest claims/test_{claim}.py` writes",
                     f"Delete it and rerun `pytest claims/test_{claim}.py --budget {budget}` (its recorded runs are "
                     "reused, so this takes seconds)", _design_problem)


def read_summary(path: Path, budget: str) -> dict[str, Any]:
    """A verdict summary, ``reports/<budget>/claims/<id>.json``, checked for the fields the report reads."""
    claim = Path(path).stem

    def problem(s: Any) -> str | None:
        found = _shape(s, SUMMARY_KEYS, "a verdict summary")
        return found or (None if isinstance(s["metrics"], list) else "has `metrics` that are not a list")
    return read_json(path, f"the verdict summary of claim {claim!r} that `python -m harness verdict` writes",
                     f"Delete it and rerun `python -m harness verdict {claim} --budget {budget}` (or restore the "
                     f"committed one: `git checkout -- {path}`)", problem)


def claims_dir(root: Path, budget: str, reports: bool = False) -> Path:
    """``<root>/<budget>/claims`` (designs under results/, summaries under reports/); a file anywhere on that
    path is a CliError."""
    d = Path(root) / budget / "claims"
    for p in (Path(root), Path(root) / budget, d):
        if p.exists() and not p.is_dir():
            holds = "the verdict summaries" if reports else "the claim designs"
            rerun = (f"`python -m harness verdict --budget {budget}`" if reports else
                     f"`pytest claims --budget {budget}` (or `dvc repro`)")
            raise CliError(f"{p} is a file, but it must be a directory: {d} holds {holds}. Move the file away "
                           f"(or delete it), then rerun {rerun}")
    return d


def design_path(args, budget: str, claim: str) -> Path:
    return Path(args.results) / budget / "claims" / f"{claim}.json"


def load_designs(args, budget: str, claims: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The designs written by runs at ``budget`` (claim -> design dict)."""
    out = {}
    for path in sorted(claims_dir(Path(args.results), budget).glob("*.json")):
        if claims is None or path.stem in claims:
            out[path.stem] = read_design(path, budget)
    return out


def find_record(path: Path, key: str):
    """harness.records.lookup, with anything that stops the record from being read reported as corrupt."""
    from harness.records import Lookup, lookup
    try:
        return lookup(path, key)
    except Exception as e:  # noqa: BLE001 - e.g. a directory where the record should be
        return Lookup(Path(path), "corrupt", detail=f"{type(e).__name__}: {e}")


def corrupt_note(found, claim: str, budget: str) -> str:
    """What is wrong with a corrupt record and what to do."""
    if Path(found.path).is_dir():
        return (f"corrupt record {found.path}: a directory where the record should be; remove it (rm -r) and "
                f"rerun `pytest claims/test_{claim}.py --budget {budget}`")
    return (f"corrupt record {found.path}: {found.detail or 'not a valid record'}; delete it and rerun "
            f"`pytest claims/test_{claim}.py --budget {budget}` (it recomputes the run)")


def cmd_list(args, params: Params, budget: str) -> int:
    designs = load_designs(args, budget)
    for claim in params.claims:
        entry = params.claim_entry(claim)
        file = Path("claims") / f"test_{claim}.py"
        status, notes = "not run", []
        if claim in designs:
            d = designs[claim]
            found = [find_record(Path(args.results) / u["path"], u["key"]) for u in d["units"]]
            ok = sum(f.status == "ok" for f in found)
            status = f"{ok}/{len(d['units'])} units recorded"
            notes = [corrupt_note(f, claim, budget) for f in found if f.status == "corrupt"]
        minutes = params.expected_minutes(claim, budget)
        print(f"{claim:<24} agent={entry.get('agent', '?'):<8} {budget}: {dict(entry.get(budget) or {})} "
              f"{'' if (project_dir(args) / file).exists() else '(MISSING FILE ' + str(file) + ') '}"
              f"{'~' + str(minutes) + ' min, ' if minutes else ''}{status}")
        for note in notes:
            print(f"    {note}")
    return 0


def cmd_data(args, params: Params, budget: str) -> int:
    """Build (or find) what the claims at ``budget`` start from: the offline datasets their settings name
    (``data:``), or with ``--kind lm`` the pretrained LMs of the RLHF claims (``pretrain:``).
    ``data/offline-<budget>.json`` and ``data/lm-<budget>.json`` index them (the DVC stages' outputs, committed,
    so that a fresh clone with committed records needs neither)."""
    (_data_offline if args.kind == "offline" else _data_lm)(args, params, budget)
    return 0


def _data_offline(args, params: Params, budget: str) -> None:
    from harness.offline import DataConfig, dataset
    from harness.records import atomic_write_json

    root = data_root(args)
    root.mkdir(parents=True, exist_ok=True)
    built: dict[str, dict[str, Any]] = {}
    index: dict[str, str] = {}
    for claim in params.claims:
        data = params.settings(claim, budget).get("data")
        if data is None:
            continue
        cfg = DataConfig(**data)
        if cfg.key not in built:
            d = dataset(cfg, root)
            built[cfg.key] = {k: d.card[k] for k in ("content_hash", "transitions", "episodes", "bytes")}
            print(f"{d.path}: {d.card['transitions']} transitions, {d.card['episodes']} episodes, "
                  f"{d.card['bytes'] / 2**20:.1f} MiB (card: {d.path / 'card.md'})")
        index[claim] = cfg.key
        print(f"{claim}: dataset {cfg.key}")
    if not built:
        print(f"no claim sets `data:` at budget {budget}")
    atomic_write_json(root.parent / f"offline-{budget}.json", {"claims": index, "datasets": built})


LM_FIELDS = ("policy", "rm_size")
"""The fields of an RLHF config (harness/agents/rlhf.py) that name a pretrained LM: a unit's LMs are its values
of these, parametrized or from its settings, else the config's defaults (no reward model's trunk where the
settings say ``reward: gold``, harness/agents/rlhf_ppo.py)."""


def _data_lm(args, params: Params, budget: str) -> None:
    from harness import design as designs
    from harness import lm
    from harness.agents import rlhf
    from harness.records import atomic_write_json

    root = data_root(args, "lm")
    defaults = rlhf.Config()
    built: dict[str, dict[str, Any]] = {}
    index: dict[str, dict[str, str]] = {}
    for claim in params.claims:
        settings = params.settings(claim, budget)
        if "pretrain" not in settings:
            continue
        units = designs.build_all(params, params.budget(budget), "cpu", [claim])[claim].units
        fields = LM_FIELDS[:1] if settings.get("reward") == "gold" else LM_FIELDS
        sizes = sorted({u.params.get(f, settings.get(f, getattr(defaults, f))) for u in units for f in fields},
                       key=list(lm.PRESETS).index)
        index[claim] = {}
        for size in sizes:
            cfg = lm.Config(**{**settings["pretrain"], "size": size})
            if cfg.key not in built:
                _, card = lm.pretrained(cfg, root)
                built[cfg.key] = {"size": size, "parameters": card["parameters"], "val_loss": card["val_loss"],
                                  "language_entropy": card["language_entropy"],
                                  "well_formed": card["samples"]["well_formed"]}
                print(f"{root / cfg.key}: LM {size}, {card['parameters']:,} parameters, validation loss "
                      f"{card['val_loss']:.4f} (card: {root / cfg.key / 'card.md'})")
            index[claim][size] = cfg.key
        print(f"{claim}: LMs {', '.join(f'{s} {k}' for s, k in index[claim].items())}")
    if not built:
        print(f"no claim sets `pretrain:` at budget {budget}")
    atomic_write_json(root.parent / f"lm-{budget}.json", {"claims": index, "models": built})


def cmd_verdict(args, params: Params, budget: str) -> int:
    check_known(params, args.claims)
    claims = args.claims or params.claims
    out_dir = claims_dir(Path(args.reports), budget, reports=True)
    designs = load_designs(args, budget)
    todo = [c for c in claims if c in designs]
    # every file this reads is checked before anything is written (and before the statistics are imported)
    previous = {c: read_summary(out_dir / f"{c}.json", budget) for c in todo if (out_dir / f"{c}.json").exists()}
    if todo:
        from harness.claim import ClaimSpecError
        from harness.records import atomic_write_json
        from harness.verdict import assess_claim, carry_history
    written = 0
    for claim in claims:
        if claim not in designs:
            print(f"{claim}: no design at {design_path(args, budget, claim)} (run `pytest claims/test_{claim}.py "
                  f"--budget {budget}`); keeping its committed summary, if any")
            continue
        design = designs[claim]
        lookups = {u["path"]: find_record(Path(args.results) / u["path"], u["key"]) for u in design["units"]}
        try:
            summary = assess_claim(design, lookups, alpha=params.alpha, permutations=params.permutations)
        except ClaimSpecError as e:  # the spec comes from the design file
            path = design_path(args, budget, claim)
            raise CliError(f"{path} holds a spec that is not valid ({e}); it should hold the design of claim "
                           f"{claim!r} that `pytest claims/test_{claim}.py` writes. Delete it and rerun "
                           f"`pytest claims/test_{claim}.py --budget {budget}` (its recorded runs are reused, so "
                           "this takes seconds)") from e
        keys = {u["key"] for u in design["units"]}
        summary["shared_with"] = {other: sum(u["key"] in keys for u in d["units"])
                                  for other, d in designs.items() if other != claim
                                  and any(u["key"] in keys for u in d["units"])}
        out = out_dir / f"{claim}.json"
        carry_history(summary, previous.get(claim))
        atomic_write_json(out, summary)
        written += 1
        verdicts = ", ".join(f"{m['metric']}: {m['verdict']}" for m in summary["metrics"])
        print(f"{claim}: {verdicts} -> {out}")
        for found in lookups.values():
            if found.status == "corrupt":
                print(f"    {corrupt_note(found, claim, budget)}")
    if not written:
        print(f"error: no verdict summary computed: no design of {', '.join(claims)} under "
              f"{claims_dir(Path(args.results), budget)}; run the claims first (`pytest claims --budget {budget}`, "
              "or `dvc repro`)", file=sys.stderr)
        return 1
    return 0


def cmd_report(args, params: Params, budget: str) -> int:
    designs = load_designs(args, budget)
    summaries_dir = claims_dir(Path(args.reports), budget, reports=True)
    have = {path.stem for path in summaries_dir.glob("*.json")}
    summaries = [read_summary(path, budget) for path in sorted(summaries_dir.glob("*.json"))
                 if path.stem in params.claims]  # as harness.report.load_summaries orders them
    option = "" if budget == params.active_budget else f" --budget {budget}"
    for claim in params.claims:
        if claim in designs and claim not in have:
            print(f"warning: {claim} has records but no verdict summary: run `python -m harness verdict "
                  f"{claim}{option}`; the report lists it under 'Claims with records but no verdict'",
                  file=sys.stderr)
    if not summaries:
        print(f"error: no verdict summaries under {summaries_dir} for the claims of {params.path}; run "
              f"`python -m harness verdict{option}` (or `dvc repro`) first; no report written", file=sys.stderr)
        return 1
    from harness.report import build
    path = build(Path(args.reports), budget, params.claims, summaries=summaries, results_dir=Path(args.results))
    print(f"report: {path}")
    return 0


def cmd_show(args, params: Params, budget: str) -> int:
    check_known(params, [args.claim])
    path = claims_dir(Path(args.reports), budget, reports=True) / f"{args.claim}.json"
    if not path.exists():
        print(f"error: no summary {path}; run `python -m harness verdict {args.claim} --budget {budget}`",
              file=sys.stderr)
        return 2
    s = read_summary(path, budget)
    from harness.report import _level_table, summary_line
    out = io.StringIO()  # written at once: a summary that breaks half-way prints no half table
    print(f"{s['claim']} ({budget}): {s['doc']['statement']}\n", file=out)
    for m in s["metrics"]:
        print("\n".join(_level_table(s, m["metric"])), file=out)
        print(summary_line(s["claim"], m), "\n", file=out)
    sys.stdout.write(out.getvalue())
    return 0


def cmd_status(args, params: Params, budget: str) -> int:
    """What each claim plans now and how much of it is recorded; the expected time for the rest."""
    committed = load_designs(args, budget)
    from harness import design as designs
    planned = designs.build_all(params, params.budget(budget), "cpu")
    workers = int((params.data.get("execution") or {}).get("workers") or os.cpu_count() or 1)
    seen: set[str] = set()
    total_s, total_missing = 0.0, 0
    notes: list[str] = []
    print(f"{'claim':<26}{'runs':>6}{'recorded':>10}{'missing':>9}{'corrupt':>9}  design    expected (serial)")
    for claim, d in planned.items():
        keys = {u.key: u for u in d.units}
        found = {k: find_record(Path(args.results) / u.path, k) for k, u in keys.items()}
        states = {k: f.status for k, f in found.items()}
        notes += [corrupt_note(f, claim, budget) for k, f in found.items() if f.status == "corrupt" and k not in seen]
        absent = [k for k, v in states.items() if v != "ok"]
        missing = [k for k in absent if k not in seen]  # a run shared with an earlier claim is counted there
        seen.update(keys)
        minutes = params.expected_minutes(claim, budget)
        expected = None if minutes is None else 60.0 * minutes * len(missing) / max(len(keys), 1)
        total_s += expected or 0.0
        total_missing += len(missing)
        c = committed.get(claim)
        design = ("none" if c is None else "current" if {u["key"] for u in c["units"]} == set(keys) else "stale")
        print(f"{claim:<26}{len(keys):>6}{sum(v == 'ok' for v in states.values()):>10}{len(absent):>9}"
              f"{sum(v == 'corrupt' for v in states.values()):>9}  {design:<9} "
              + ("—" if not absent else "?" if expected is None else _duration(expected))
              + (f" ({len(absent) - len(missing)} shared with a claim above)" if len(absent) > len(missing) else ""))
    print(f"total: {total_missing} runs to compute (runs shared between claims counted once), about "
          f"{_duration(total_s)} serial, {_duration(total_s / workers)} on {workers} workers (params.yaml minutes, "
          "measured on the 2-core reference machine)")
    for note in notes:
        print(note)
    return 0


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def cmd_gc(args, params: Params, budget: str) -> int:
    """Remove records under results/*/runs/ that no design under results/*/claims/ refers to."""
    root = Path(args.results)
    if root.exists() and not root.is_dir():
        raise CliError(f"{root} is a file, but it must be the directory of the records and claim designs; move it "
                       "away (or delete it), then rerun the claims (`pytest claims`, or `dvc repro`)")
    referred: set[str] = set()  # a damaged design stops gc before it removes anything
    entries = sorted(root.iterdir()) if root.exists() else []
    for b in [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]:
        for d in sorted(claims_dir(root, b).glob("*.json")):
            referred.update(u["path"] for u in read_design(d, b)["units"])
    orphans = [p for p in sorted(root.glob("*/runs/*/*.json"))
               if p.is_file() and p.relative_to(root).as_posix() not in referred]
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
    check_known(params, args.claim or [])
    committed = load_designs(args, budget, args.claim)
    from harness import design as designs
    from harness.execute import Unit, make_executor
    from harness.records import cpu_kind
    for var, kind in (("HARNESS_DATA", "offline"), ("HARNESS_LM", "lm")):  # the runs' data, for the workers too
        if getattr(args, "found_root", None) is not None and var not in os.environ:
            os.environ[var] = str(data_root(args, kind))
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
        found = find_record(Path(args.results) / w["path"], key)
        if found.status != "ok":
            missing.append((key, w, found))
        elif key not in plans:
            stale.append((key, w))
        else:
            candidates.append((key, w, found.record))
    rng = random.Random(args.seed)
    rng.shuffle(candidates)
    workers = args.workers or os.cpu_count() or 1
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
    bad = foreign = 0
    here = cpu_kind()
    try:
        for key, w, rec, fut in futures:
            try:
                out = fut.result()
                diffs = compare(rec, out)
            except Exception as e:  # noqa: BLE001 - reported as a failed verification
                diffs = [f"the run failed: {type(e).__name__}: {e}"]
            bad += bool(diffs)
            other = bool(diffs) and not diffs[0].startswith("the run failed") and rec.provenance.get("cpu") != here
            foreign += other
            rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}",
                         f"{rec.provenance.get('wall_time', 0):.0f}s", f"{out.get('_wall_time', math.nan):.0f}s"
                         if not diffs or "failed" not in diffs[0] else "-",
                         "MATCH" if not diffs else "MISMATCH" + (
                             f" (made on another CPU kind: {rec.provenance.get('cpu') or 'not recorded'})"
                             if other else "") + ": " + "; ".join(diffs[:3])))
    finally:
        executor.shutdown(cancel=True)
    for key, w in stale:
        bad += 1
        rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}", "-", "-",
                     "STALE: the claim now plans another run (code or params changed since the record)"))
    for key, w, found in missing:
        bad += 1
        rows.append((", ".join(sorted(w["labels"])), f"s{w['seeds'][0]}-{w['seeds'][-1]}", "-", "-",
                     f"NO RECORD ({found.status})"))
    header = ("unit", "seeds", "recorded", "now", "result")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(wd) for c, wd in zip(r[:4], widths)) + "  " + r[4])
    print(f"{len(chosen) - sum(1 for r in rows[:len(chosen)] if r[4] != 'MATCH')} of {len(chosen)} re-run units "
          f"matched their records bit for bit ({time.perf_counter() - start:.0f} s)"
          + (f"; {bad} problems" if bad else ""))
    if foreign:
        print(f"{foreign} of the mismatches are of records made on another CPU kind than this one ({here}), or "
              "before records named theirs: numpy and torch choose their kernels by CPU, so results can differ in "
              "the last bits and a run can branch differently from there. Only a mismatch on the same CPU kind "
              "shows that the code or its environment changed; re-run those claims here to compare like with like.")
    for key, w, found in missing:
        if found.status == "corrupt":
            print(corrupt_note(found, w["labels"][0].split(" ")[0], budget))
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
    path = claims_dir(results, budget) / f"{claim}.json"
    if not path.exists():
        return None
    design = read_design(path, budget)
    rows = []
    for u in design["units"]:
        found = find_record(results / u["path"], u["key"])
        if found.status != "ok":
            continue
        for m in found.record.result.members:
            rows.append({"value": u["params"][spec.axis], "seed": m.seed, "metrics": dict(m.metrics),
                         "diverged": m.diverged, "curve": (m.curve_steps, m.curve_returns),
                         "arm": u["params"].get(spec.contrast) if spec.contrast else None})
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


def _plan_contrast_noise(rows: list[dict[str, Any]], spec, metric: str, all_levels: list[Any], arms: list[Any]):
    """(power.ContrastNoise or None, mean difference y_b - y_a per level) of one metric of a contrast claim:
    the runs normalized with the spec, NaN and diverged runs left out (with them, their cells), paired by
    (level, seed) as the verdict pairs them."""
    import numpy as np

    from harness import power
    from harness.claim import axis_coordinate
    keep = [r for r in rows if not r["diverged"] and any(repr(r["arm"]) == repr(a) for a in arms)]
    y = spec.normalize(np.array([r["metrics"].get(metric, math.nan) for r in keep], dtype=float))
    ok = np.isfinite(y)
    keep, y = [r for r, k in zip(keep, ok) if k], y[ok]
    labels = [repr(a) for a in arms]
    if not keep or len({repr(r["arm"]) for r in keep}) < 2:
        return None, {}
    x = np.array([axis_coordinate(spec, r["value"], all_levels) for r in keep])
    try:
        est = power.contrast_noise(x, y, [repr(r["arm"]) for r in keep], [r["seed"] for r in keep],
                                   order=tuple(labels), blocked=bool(spec.blocks))
    except ValueError:  # no (level, seed) cell holds both arms
        return None, {}
    xc, ya, yb, _, _, _ = power.paired_differences(x, y, [repr(r["arm"]) for r in keep], [r["seed"] for r in keep],
                                                   tuple(labels))
    level_of = {axis_coordinate(spec, v, all_levels): repr(v) for v in all_levels}
    means: dict[str, list[float]] = {}
    for xi, d in zip(xc.tolist(), (yb - ya).tolist()):
        means.setdefault(level_of[xi], []).append(d)
    means_out = {k: sum(v) / len(v) for k, v in means.items()}
    return (est if math.isfinite(est.difference.sd) else None), means_out


def cmd_plan(args, params: Params, budget: str) -> int:
    """The claim's power at the budget's design and the seeds it needs to see the paper's effect."""
    claim = args.claim
    check_known(params, [claim])
    from harness import design as designs
    from harness import power
    from harness.claim import ClaimSpecError, axis_coordinate, metric_value, slope_unit
    try:
        d = designs.build_all(params, params.budget(budget), "cpu", [claim])[claim]
    except ClaimSpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = d.spec
    if spec.derive:
        print(f"{claim}: plan does not cover derived (derive={spec.derive!r}) claims yet")
        return 0
    others = sorted({k for u in d.units for k in u.params} - {spec.axis, spec.contrast})
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
    if spec.contrast and not blocked and seeds > 1:
        print(f"{claim}: a contrast pairs its arms' runs by (level, seed), and without blocks=\"seed\" its verdict "
              f"cannot pair {seeds} seeds per level (trend.assess_contrast): add blocks=\"seed\" to the marker")
        return 0
    unit = slope_unit(spec.scale)
    arms = list(dict.fromkeys(u.params[spec.contrast] for u in d.units)) if spec.contrast else []  # (a, b)
    labels = tuple(f"{spec.contrast}={a}" for a in arms)
    units_note = " (normalized: random 0, reference 1)" if spec.normalized else ""
    results = Path(args.results)

    sources: list[tuple[str, list[dict[str, Any]], str]] = []
    for b in [budget] + ([args.pilot_budget] if args.pilot_budget and args.pilot_budget != budget else []):
        found = _plan_rows(results, b, claim, spec)
        if found and found[0]:
            other = b == budget and (found[1].get("settings") != d.settings or found[1].get("spec_hash") != spec.hash)
            sources.append((b, found[0], "; records of another design: its settings or spec differ from today's"
                            if other else ""))

    print(f"{claim} at budget {budget}: {d.doc.get('statement', '')}")
    coords = ", ".join(f"{v:g}" for v in x_levels)
    print(f"  design: {len(levels)} levels {levels} (x = {'log2 level' if spec.scale == 'log' else 'level index'}: "
          f"{coords}) x {seeds} seeds, {'blocked by seed' if blocked else 'unblocked'}; alpha={d.alpha:g}"
          + (f"; controls {list(spec.controls)} left out" if spec.controls else "")
          + ("; smoke budget: plumbing only" if d.budget.plumbing_only else ""))
    if spec.contrast:
        print(f"  contrast: tested on d = y[{labels[1]}] - y[{labels[0]}], one per (level, seed) cell "
              f"({len(levels) * seeds} cells of 2 runs);\n"
              f"    sd, MDE and paper effect below are of d and its slope, slope[{labels[1]}] - slope[{labels[0]}]")
    missing = []
    for metric, direction in spec.metrics.items():
        sd = given_sd.get(metric, given_sd.get(None))
        source = "--sd"
        if sd is not None and spec.contrast:
            source = (f"sqrt(2) x --sd {sd:g}, the sd of one arm's runs: arms taken as independent, an upper "
                      "estimate if a cell's two runs share noise")
            sd = power.difference_sd(sd)
        if sd is None:
            for b, rows, stale in sources:
                if spec.contrast:
                    cest, _ = _plan_contrast_noise(rows, spec, metric, all_levels, arms)
                    if cest is None:
                        continue
                    est = cest.difference
                    arm_sd = ", ".join(f"{lab} {e.sd:.3g}" for lab, e in zip(labels, cest.arms))
                    source = (f"records at budget {b}: the differences of {est.n} (level, seed) cells, {est.levels} "
                              f"level(s), df={est.df}"
                              + (", seed offsets removed" if est.blocked else
                                 ", seed offsets not separable: an upper estimate" if spec.blocks else "")
                              + (f", {cest.dropped} unpaired runs left out" if cest.dropped else "")
                              + f"; each arm alone over these cells: {arm_sd}" + stale)
                else:
                    est, _ = _plan_noise(rows, spec, metric, all_levels)
                    if est is None:
                        continue
                    source = (f"records at budget {b}: {est.n} runs, {est.levels} level(s), df={est.df}"
                              + (", seed offsets removed" if est.blocked else
                                 ", seed offsets not separable: an upper estimate" if spec.blocks else "") + stale)
                sd = est.sd
                break
        print(f"\n  {metric} ({direction}{f', threshold {spec.threshold:g}' if spec.threshold else ''}"
              f"{f', margin {spec.margin:g}' if spec.margin and direction.startswith('non_') else ''}"
              f"{f': slope[{labels[1]}] - slope[{labels[0]}]' if spec.contrast else ''})")
        if sd is None:
            missing.append(metric)
            print("    sd: not available (no --sd for it, and no valid records of this metric"
                  + (" with both arms in a (level, seed) cell" if spec.contrast else "")
                  + (f" at budget {budget}" + (f" or {args.pilot_budget}" if args.pilot_budget else "")) + ")")
            continue
        paper = metric_value(spec.paper_effect, metric)
        p = power.plan_metric(metric, direction, levels, x_levels, seeds, sd, sd_source=source, blocked=blocked,
                              paper_effect=paper, threshold=spec.threshold, margin=spec.margin, alpha=d.alpha,
                              power=args.power, max_seeds=args.max_seeds, n_sim=args.simulations,
                              n_permutations=d.permutations, unit=unit,
                              contrast=labels if spec.contrast else None)
        boundary = f" beyond the boundary {p.shift:+g}" if p.shift else ""
        of_d = " of the difference d" if spec.contrast else ""
        print(f"    sd{of_d}: {p.sd:.3g}{units_note} ({p.sd_source})")
        print(f"    MDE at this design: {p.mde:.3g} {unit}{boundary}{' of d' if spec.contrast else ''} "
              f"({p.power:.0%} power, {p.method} test, smallest p {p.min_p:.3g})")
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
                if spec.contrast:
                    cest, means = _plan_contrast_noise(rows, spec, metric, all_levels, arms)
                    est = cest.difference if cest is not None else None
                else:
                    est, means = _plan_noise(rows, spec, metric, all_levels)
                sd_text = f"{est.sd:.3g}" if est is not None else "n/a"
                what = "sd of d" if spec.contrast else "sd"
                print(f"    {b} (steps={steps if steps is not None else '?'}) {metric}: {what} {sd_text}, level means"
                      + (" of d " if spec.contrast else " ") + ", ".join(f"{k}: {v:.3g}" for k, v in means.items()))
    if missing:
        first = next(u for u in d.units if repr(u.params[spec.axis]) not in controls)
        lid, want = first.level_id, {first.level_id}
        if spec.contrast:  # both arms at the smallest level: select on the axis's part of the test id
            v0 = first.params[spec.axis]
            want = {u.level_id for u in d.units if repr(u.params[spec.axis]) == repr(v0)}
            lid = designs.value_id(spec.axis, v0) or lid
        clash = sorted({u.level_id for u in d.units if u.level_id not in want and lid in u.level_id})
        k = lid if not clash else f"{lid} and not " + " and not ".join(clash)
        k = f'"{k}"' if clash else k
        print(f"\nno noise estimate for {', '.join(missing)}: run the smallest level first"
              + (" (both arms)" if spec.contrast else "") + ",\n"
              f"  pytest claims/test_{claim}.py -k {k} --budget {budget}\n"
              f"then `python -m harness plan {claim} --budget {budget}` again, or use records at another budget "
              f"(--pilot-budget B), or pass --sd SD (in the claim's units{units_note}).", file=sys.stderr)
        return 2
    return 0
