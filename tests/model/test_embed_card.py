"""scripts/embed_card.py: a new model card goes into a bundle; its weights and config stay as they were."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from minet_desktop.model.bundle import build_modules, load_bundle, read_bundle_config, save_bundle
from minet_desktop.model.config import BundleConfig

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "embed_card.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_card_changes_and_nothing_else(tmp_path: Path) -> None:
    cfg = BundleConfig.tiny()
    torch.manual_seed(0)
    bundle = save_bundle(tmp_path / "m.safetensors", cfg, *build_modules(cfg), model_card="# old")
    before = load_file(str(bundle))
    card = tmp_path / "card.md"
    card.write_text("# New card\n\nMeasured figures.\n", encoding="utf-8")
    r = _run(str(bundle), str(card))
    assert r.returncode == 0, r.stderr
    assert load_bundle(bundle).model_card == card.read_text(encoding="utf-8")
    after = load_file(str(bundle))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert read_bundle_config(bundle)[0] == cfg
    assert "unchanged" in _run(str(bundle), str(card)).stdout


def test_a_file_that_is_not_a_bundle_is_refused_and_left_alone(tmp_path: Path) -> None:
    junk = tmp_path / "notes.safetensors"
    junk.write_bytes(b"not a bundle")
    card = tmp_path / "card.md"
    card.write_text("# card", encoding="utf-8")
    r = _run(str(junk), str(card))
    assert r.returncode != 0 and "notes.safetensors" in r.stderr
    assert junk.read_bytes() == b"not a bundle"
