from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CRASHES = sorted((HERE / "crashes").iterdir())


@pytest.mark.parametrize("crash", CRASHES, ids=[c.name for c in CRASHES])
def test_inputs_the_fuzzers_once_broke_now_pass(crash: Path) -> None:
    target = HERE / f"fuzz_{crash.name.split('-')[0]}.py"
    done = subprocess.run([sys.executable, str(target), str(crash)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
