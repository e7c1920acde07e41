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


def test_every_gui_module_uses_qt():
    """Code with no Qt in it lives below gui/ (STYLE: "a window that only lays out"): every module of
    minet_desktop/gui imports PySide6 or pyqtgraph itself."""
    import ast

    qt_free = []
    for path in sorted((ROOT / "minet_desktop" / "gui").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if not any(name.split(".")[0] in ("PySide6", "pyqtgraph") for name in imported):
            qt_free.append(path.name)
    assert not qt_free, f"Qt-free modules in gui/ (move them to core/, media/, pose/ or engine/): {qt_free}"
