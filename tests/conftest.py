# tests/toy holds a synthetic claim that the harness's own tests copy into temporary projects; it is not a
# test of this package and must not be collected here.
collect_ignore = ["toy"]

import pytest


@pytest.fixture(scope="module")
def lm_cache(tmp_path_factory):
    """A module's own cache of pretrained LMs (harness/lm.py): the agents find their LMs through $HARNESS_LM."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_LM", str(tmp_path_factory.mktemp("lm")))
    yield
    mp.undo()
