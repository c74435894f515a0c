"""harness.cache.built: a directory is built once, atomically; a failed build leaves nothing behind."""
from pathlib import Path

import pytest

from harness.cache import built


def test_a_directory_is_built_once_and_a_failed_build_leaves_nothing(tmp_path: Path):
    calls = []

    def fail(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        built(tmp_path / "root", "k", fail)
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [".k.lock"]  # no half-built directory

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "card.json").write_text("{}")

    path = built(tmp_path / "root", "k", build)
    assert path == tmp_path / "root" / "k" and (path / "card.json").read_text() == "{}"
    assert built(tmp_path / "root", "k", build) == path and len(calls) == 1  # found, not rebuilt
