"""Executors side by side, in one run: wall time of one claim with --workers 1 against --workers 2 (T1/T2,
against the target 0.9 x min(2, T1 / longest unit)), and optionally --executor ray on a local Ray cluster
(started before the clock and stopped after it) against the local pool with the same workers: Ray's
overhead, on units of >= 60 s.

Each variant runs the claim's points (``--no-verdicts``) into its own scratch results directory, so the
cache is cold every time. Run one heavy thing at a time on a shared machine.

    python benchmarks/executors.py claims/test_sac_width.py --budget quick -k "256 or 1024"
    python benchmarks/executors.py claims/test_toy_trend.py --rootdir tests/toy --ray
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(claim: str, results: Path, extra: list[str], args: argparse.Namespace, env=None) -> float:
    cmd = [sys.executable, "-m", "pytest", claim, "--budget", args.budget, "--no-verdicts", "-q",
           "-p", "no:cacheprovider", "--results", str(results), *extra]
    if args.k:
        cmd += ["-k", args.k]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=args.rootdir, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def longest_unit(results: Path) -> float:
    """The longest unit's wall time, from the records' provenance."""
    times = [json.loads(p.read_text())["provenance"]["wall_time"] for p in results.rglob("*.json")
             if "provenance" in json.loads(p.read_text())]
    return max(times, default=0.0)


def run_on_ray_cluster(args: argparse.Namespace, results: Path) -> float:
    """The claim through --executor ray on a one-node local cluster of 2 CPUs (loopback, no token auth)."""
    ray = shutil.which("ray") or sys.exit('the ray command is missing: pip install -e ".[ray]"')
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    subprocess.run([ray, "start", "--head", "--port", "6399", "--num-cpus", "2", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True, env=env)
    try:
        return run(args.claim, results, ["--executor", "ray", "--ray-address", "127.0.0.1:6399"], args, env)
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("claim", help="claim file, relative to --rootdir")
    ap.add_argument("--budget", default="quick")
    ap.add_argument("-k", default=None, help="pytest -k selection of levels")
    ap.add_argument("--rootdir", default=".", help="project directory holding params.yaml")
    ap.add_argument("--ray", action="store_true", help="also time --executor ray against the local pool")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        tmp = Path(tmp)
        t1 = run(args.claim, tmp / "w1", ["--workers", "1"], args)
        t2 = run(args.claim, tmp / "w2", ["--workers", "2"], args)
        longest = longest_unit(tmp / "w1")
        target = 0.9 * min(2.0, t1 / longest) if longest else float("nan")
        print(f"{args.claim} -k {args.k!r} at {args.budget}: T1 {t1:.1f} s, T2 {t2:.1f} s, "
              f"longest unit {longest:.1f} s")
        print(f"T1/T2 = {t1 / t2:.2f} (target >= 0.9 x min(2, T1/longest) = {target:.2f})")
        if args.ray:
            tr = run_on_ray_cluster(args, tmp / "ray")
            print(f"ray, 2 CPUs: {tr:.1f} s; local pool, 2 workers: {t2:.1f} s; "
                  f"ray/local = {tr / t2:.3f} (overhead {100 * (tr / t2 - 1):.1f}%, cluster start excluded)")


if __name__ == "__main__":
    main()
