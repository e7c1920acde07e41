"""Write a model card (Markdown) into a bundle's metadata, leaving its tensors and config as they are.

    python scripts/embed_card.py resources/models/minet.safetensors resources/models/minet.md

The bundle is rewritten atomically (``minet_desktop.model.bundle.write_bundle``); the app shows the embedded
card in its model panel. Use it after editing a card's text; retraining writes the card itself (``--card``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.errors import MinetError
from minet_desktop.model.bundle import _read_metadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("card", type=Path)
    args = ap.parse_args()
    try:
        metadata = _read_metadata(args.bundle)  # refuses a file that is not an MI Net bundle
        card = args.card.read_text(encoding="utf-8")
    except (MinetError, OSError, UnicodeDecodeError) as exc:
        sys.exit(f"error: {exc}")
    if metadata.get("model_card") == card:
        print(f"{args.bundle}: card unchanged")
        return
    tensors = load_file(str(args.bundle))
    with safe_open(str(args.bundle), framework="pt") as f:
        metadata = dict(f.metadata())
    metadata["model_card"] = card  # format, version and config stay as they were
    with atomic_path(args.bundle) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    print(f"{args.bundle}: card from {args.card} ({len(card)} characters)")


if __name__ == "__main__":
    main()
