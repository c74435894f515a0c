"""Test helpers that patch an agent module (shared by the agents' step-0 evaluation tests)."""
from typing import Any, Callable


def skip_first_evaluation(monkeypatch, module: Any, placeholder: Callable[..., Any]) -> list[tuple]:
    """Replace ``module.evaluate`` so that its first call (the step-0 evaluation of the untrained policy) does
    not run and returns ``placeholder(*args)`` instead; later calls run the real evaluation. Returns the list
    of the calls' positional arguments, which grows as the agent evaluates."""
    real, calls = module.evaluate, []

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs) if len(calls) > 1 else placeholder(*args)

    monkeypatch.setattr(module, "evaluate", evaluate)
    return calls
