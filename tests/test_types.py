"""mypy (strict, as configured in pyproject.toml [tool.mypy]) on core, model and engine as part of the suite:
a type error fails CI, not a review."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean_on_core_model_and_engine():
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert exe, "mypy is not installed (requirements/dev.txt)"
    result = subprocess.run(
        [exe, "--cache-dir", str(ROOT / ".mypy_cache")], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
