import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parent / "e2e"))

import os  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A directory with hello.txt, for the filesystem servers the tests share."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "hello.txt").write_text("hello over zrok\n")
    return d


@pytest.fixture(autouse=True)
def no_leftovers():
    """After every test, both accounts hold exactly the shares and accesses they held before."""
    if not os.environ.get("MCPZ_TESTNET_ENV"):
        yield
        return
    from netharness import frontends, share_tokens

    before = {w: (share_tokens(w), frontends(w)) for w in ("alice", "bob")}
    yield
    deadline = time.monotonic() + 20
    while True:
        now = {w: (share_tokens(w), frontends(w)) for w in ("alice", "bob")}
        if now == before or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert now == before, f"left behind: {now} (before: {before})"
