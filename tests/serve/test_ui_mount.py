"""The UI reaches the service through the `rag.ui` entry point group; `rag` itself never imports `ui`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag.serve import ui_mount
from rag.serve.ui_mount import NoUIError, ui_builder


def test_no_module_of_rag_imports_ui() -> None:
    probe = (
        "import sys, rag.serve.app, rag.cli, rag.remote, rag.eval.report; "
        "print(sorted(m for m in sys.modules if m == 'ui' or m.startswith('ui.')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_installed_ui_registers_its_builder() -> None:
    from ui.app import build_ui

    assert ui_builder() is build_ui


def test_without_a_registered_ui_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_mount, "entry_points", lambda group: [])
    with pytest.raises(NoUIError, match="make install"):
        ui_builder()
