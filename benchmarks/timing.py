"""Timing shared by the benchmarks (imported from the script's own folder, which Python puts on sys.path)."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence


def ensemble_vs_looped(train: Callable[..., Any], cfg: Any, seeds: Sequence[int]) -> tuple[float, float]:
    """Seconds to train ``seeds`` as one ensemble, then one seed after another, back to back in this process."""
    start = time.perf_counter()
    train(cfg, list(seeds))
    ensemble = time.perf_counter() - start
    start = time.perf_counter()
    for s in seeds:
        train(cfg, [s])
    return ensemble, time.perf_counter() - start
