"""One readable file per algorithm; each exposes Config and train(cfg, seeds, device) -> RunResult (harness/result.py)."""
