"""scripts/sf2_presets.py reads which samples a SoundFont's presets play (the Csound fold's explanation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSOUND = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")
FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def _presets(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sf2_presets.py"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_csound_banks_viola_is_its_violin_and_fluidr3s_is_not() -> None:
    if not (CSOUND.is_file() and FLUID.is_file()):
        pytest.fail("soundfonts missing (scripts/install.sh --dev installs them)")
    r = _presets(CSOUND, FLUID)
    assert r.returncode == 0, r.stderr
    csound, fluid = r.stdout.split(str(FLUID))
    viola = next(line for line in csound.splitlines() if " 41 viola " in line)
    assert "(the same samples as violin)" in viola and "Violin C4" in viola
    assert "the same samples" not in fluid and "Viola" in fluid


def test_a_file_that_is_not_a_soundfont_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "x.sf2"
    junk.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    r = _presets(junk)
    assert r.returncode != 0 and "not a SoundFont 2 file" in r.stderr
