"""Executors: a local process pool and Ray give the records and verdicts of a serial run; faults lose nothing.

Every test runs the toy claim (tests/toy) in a temporary project through a real pytest subprocess. Its
units sleep (settings.sleep) and write their pid (TOY_PIDS) and their level (TOY_COUNTER) so that a test
can kill the process running a unit and count how often each unit ran.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.execute import Unit, longest_first
from harness.result import Plan
from processes import alive

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy"
SKIP_KEYS = {"provenance", "digest"}  # timing and host (and the digest over them)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "claims").mkdir()
    shutil.copy(TOY / "claims" / "test_toy_trend.py", tmp_path / "claims")
    shutil.copy(TOY / "params.yaml", tmp_path)
    return tmp_path


def set_sleep(project: Path, seconds: float) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["claims"]["toy_trend"]["quick"]["sleep"] = seconds
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "claims", "-q", "-p", "no:cacheprovider", *args]


def environ(project: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TOY_COUNTER": str(project / "counter.txt"), "TOY_PIDS": str(project / "pids.txt"),
            "PYTHONPATH": str(ROOT), "CI": "1", **extra}


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=project, env=environ(project, **env), capture_output=True, text=True,
                          timeout=300)


def records(project: Path, results: str = "results") -> dict[str, dict]:
    """Record file name -> the record without its provenance (timing, host)."""
    out = {}
    for path in sorted((project / results / "quick" / "runs" / "toy").glob("*.json")):
        out[path.name] = {k: v for k, v in json.loads(path.read_text()).items() if k not in SKIP_KEYS}
    return out


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


def test_longest_first_orders_by_estimate_then_by_later_level():
    def unit(level: int, estimate: float | None, order: int) -> Unit:
        return Unit(f"key{level}", Plan("harness.agents.toy", None, (0,), "cpu"), f"size{level}", estimate, order)
    units = [unit(1, 10.0, 0), unit(2, 10.0, 1), unit(9, 60.0, 0), unit(4, None, 3)]
    assert [u.label for u in sorted(units, key=longest_first)] == ["size9", "size2", "size1", "size4"]


def test_two_workers_give_the_records_and_verdict_of_one(project):
    set_sleep(project, 0.3)
    one = run(project, "--workers", "1", "--results", "serial")
    two = run(project, "--workers", "2", "--results", "pool")
    assert one.returncode == two.returncode == 1, one.stdout + two.stdout  # the toy claim is CONTRADICTED
    for out in (one.stdout, two.stdout):
        assert "8 passed, 1 failed" in out.replace("1 failed, 8 passed", "8 passed, 1 failed")
        assert "toy_trend                auc_return increasing              CONTRADICTED" in out
    serial, pool = records(project, "serial"), records(project, "pool")
    assert len(serial) == 8 and serial == pool  # metrics, curves, keys, configs: everything but provenance
    pids = {int(p) for p in lines(project / "pids.txt")[8:]}
    assert len(pids) == 2 and not any(alive(p) for p in pids)  # two workers, none left behind
    ran = lines(project / "counter.txt")[8:]
    # The most expensive level first: both size8 units go to the two workers as they start, so whichever worker
    # boots first runs a size8 unit first (the other may boot after its peer already took a size4 unit).
    assert ran[0].startswith("size8") and ran[-1].startswith(("size1", "size2")), ran


def test_a_worker_killed_mid_unit_is_replaced_and_the_unit_retried(project):
    set_sleep(project, 1.0)
    proc = subprocess.Popen(command("--workers", "2", "--no-verdicts"), cwd=project, env=environ(project),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(lines(project / "pids.txt")) >= 1)
    victim = int(lines(project / "pids.txt")[0])
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "8 passed" in out and "8 units ran" in out
    assert len(records(project)) == 8
    ran = lines(project / "counter.txt")
    assert len(ran) == 9 and len(set(ran)) == 8  # the killed unit ran twice, every other once
    assert not any(alive(int(p)) for p in lines(project / "pids.txt"))


def test_two_runs_of_one_claim_at_once_compute_each_unit_once(project):
    """The per-run lock: the second pytest waits for the first one's records and reuses them. The first run's
    units hold (TOY_HOLD) until the second says it waits, so the test does not depend on timing."""
    hold = project / "hold"
    env = environ(project, TOY_HOLD=str(hold))
    first = subprocess.Popen(command("--workers", "2", "--no-verdicts"), cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(lines(project / "pids.txt")) >= 1)
    with open(project / "second.out", "w") as out2, open(project / "second.err", "w") as err2:
        second = subprocess.Popen(command("--workers", "2", "--no-verdicts"), cwd=project, env=env, stdout=out2,
                                  stderr=err2, text=True)
        wait_for(lambda: "waiting for its record" in (project / "second.err").read_text(), timeout=120)
        hold.touch()
        out, _ = first.communicate(timeout=120)
        second.wait(timeout=120)
    second_out = (project / "second.out").read_text()
    assert first.returncode == 0 and second.returncode == 0, out + second_out
    ran = lines(project / "counter.txt")
    assert len(ran) == 8 and len(set(ran)) == 8, ran  # every unit once, between the two runs
    assert "computed meanwhile by another run" in second_out
    assert len(records(project)) == 8


def test_a_unit_whose_worker_always_dies_fails_its_point_after_the_retries(project):
    set_sleep(project, 0.0)
    r = run(project, "--workers", "2", "--no-verdicts", TOY_SUICIDE="size4")
    assert r.returncode == 1
    assert "2 failed, 6 passed" in r.stdout
    assert "died (exit code -9) 3 times; 2 retries allowed" in r.stdout
    assert sum(line.startswith("size4") for line in lines(project / "counter.txt")) == 6  # 2 shards x 3 tries
    assert len(records(project)) == 6


def test_sigint_leaves_a_consistent_results_tree_and_no_worker(project):
    set_sleep(project, 1.0)
    # Ctrl-C must reach the driver even when this test runs under a shell that started it in the background
    # (which makes SIGINT ignored, and children inherit that): restore the default in the child.
    proc = subprocess.Popen(command("--workers", "2", "--no-verdicts"), cwd=project, env=environ(project),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    results = project / "results" / "quick" / "runs" / "toy"
    wait_for(lambda: len(list(results.glob("*.json"))) >= 2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in out
    wait_for(lambda: not any(alive(int(p)) for p in lines(project / "pids.txt")), timeout=10)
    assert not list(results.glob(".*.tmp"))
    done = records(project)
    assert 2 <= len(done) < 8
    before = len(lines(project / "counter.txt"))
    again = run(project, "--workers", "2", "--no-verdicts")
    assert again.returncode == 0, again.stdout
    assert f"{8 - len(done)} units ran, {len(done)} reused" in again.stdout
    assert len(lines(project / "counter.txt")) - before == 8 - len(done)


# --- Ray ------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-fa", "raylet|gcs_server"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


# Ray >= 2.5x turns token authentication on by default and a driver given an explicit address does not
# present the token unless RAY_AUTH_MODE=token; this loopback-only test cluster runs without it.
RAY_ENV = {"RAY_AUTH_MODE": "disabled"}


@pytest.fixture
def ray_cluster(project):
    """A real two-node Ray cluster on loopback: a head node and one worker node, one CPU each. Ray workers
    inherit the environment of the node that started them, not the driver's: the toy's TOY_* files are set
    here."""
    pytest.importorskip("ray")
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the ray command is not on PATH")
    if _ray_processes():
        pytest.skip("a Ray cluster is already running on this machine; the test would stop it")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
    env = environ(project, **RAY_ENV)
    try:
        subprocess.run([ray_cli, "start", "--head", "--port", str(port), "--include-dashboard=false", *common],
                       check=True, capture_output=True, timeout=120, env=env)
        subprocess.run([ray_cli, "start", "--address", address, *common], check=True, capture_output=True,
                       timeout=120, env=env)
        yield address
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, env=env)
        wait_for(lambda: not _ray_processes(), timeout=30)


def test_ray_cluster_gives_the_local_records_and_survives_a_killed_worker(project, ray_cluster):
    set_sleep(project, 0.3)
    local = run(project, "--workers", "2", "--no-verdicts", "--results", "local")
    assert local.returncode == 0, local.stdout
    proc = subprocess.Popen(command("--executor", "ray", "--ray-address", ray_cluster, "--no-verdicts",
                                    "--results", "ray"), cwd=project, env=environ(project, **RAY_ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = len(lines(project / "pids.txt"))
        wait_for(lambda: len(lines(project / "pids.txt")) > first, timeout=120)
        os.kill(int(lines(project / "pids.txt")[first]), signal.SIGKILL)  # a Ray worker, mid-unit
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # no driver outlives a failed test
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "8 passed" in out and "8 units ran" in out
    assert records(project, "ray") == records(project, "local")


def test_the_sigint_test_passes_when_sigint_is_ignored_by_the_parent(project):
    """The README's test command started from a script in the background inherits SIGINT as ignored; the
    harness's own tests must not depend on the signal dispositions they inherit."""
    if os.environ.get("HARNESS_NESTED_SIGINT_TEST"):
        pytest.skip("already nested")
    node = f"{Path(__file__).resolve()}::test_sigint_leaves_a_consistent_results_tree_and_no_worker"
    out = subprocess.run([sys.executable, "-m", "pytest", node, "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, env={**os.environ, "HARNESS_NESTED_SIGINT_TEST": "1"}, capture_output=True,
                         text=True, timeout=300, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_unit_rebuilds_its_config_where_it_runs():
    """Unpickling skips __post_init__; a worker constructs the Config again, so its checks and side effects
    (registering MinAtar, for the offline agent) happen in the process that trains."""
    code = ("import pickle, sys, gymnasium as gym\n"
            "from harness.execute import rebuilt\n"
            "cfg = pickle.loads(sys.stdin.buffer.read())\n"
            "assert 'MinAtar/Breakout-v0' not in gym.registry\n"
            "assert rebuilt(cfg) == cfg and 'MinAtar/Breakout-v0' in gym.registry\n")
    import pickle
    from harness.agents import dt
    from harness.offline import DataConfig
    cfg = dt.Config(data=DataConfig(games=("Breakout",)))
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(cfg), capture_output=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr.decode()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_agent_error_shows_the_agents_frame_not_the_harness_internals(project, workers):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["claims"]["toy_trend"]["quick"]["fault"] = "raises"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    r = run(project, "--workers", workers, "--no-verdicts", "-k", "size1")
    assert r.returncode == 1
    out = r.stdout
    assert "ValueError: toy fault: the agent raised" in out and "agents/toy.py" in out, out
    assert "(the whole traceback: run pytest with -v)" in out
    assert "plugin.py" not in out and "execute.py" not in out  # no harness internals without -v
    verbose = run(project, "--workers", workers, "--no-verdicts", "-k", "size1", "-vv").stdout  # -vv: command() passes -q
    assert "The whole traceback:" in verbose and "execute.py" in verbose
