"""Process helpers shared by the tests that kill drivers and workers (test_plugin, test_execute)."""
import os


def alive(pid: int) -> bool:
    """Whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
