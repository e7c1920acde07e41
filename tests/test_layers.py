"""The layering of ../shared/STYLE.md is a contract: a wrong import fails the suite, not a review."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed (requirements/dev.txt)"
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_core_imports_without_torch_or_qt():
    code = (
        "import sys; import minet_desktop.core.config, minet_desktop.core.skeleton, minet_desktop.core.atomic;"
        "bad = [m for m in ('torch', 'PySide6', 'cv2', 'mediapipe') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
