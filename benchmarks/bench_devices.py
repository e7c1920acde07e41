"""Every shipped model on the CPU and on CUDA: real-time factor and CPU/GPU agreement on a demo performance.

For each bundle in ``resources/models/`` the demo performance (keypoints from its sidecar file, notes from its
``.mid`` for the MIDI-conditioned models) is generated on each device with the same seed. MI Nets sample at
temperature 0 here (greedy codes), so both devices should draw the same codes; every model's spectrograms are
compared by :func:`compare_spectrograms`. Times are the second of two runs (the first warms up kernels, caches
and, on CUDA, the graph capture).

The log-magnitudes are compared where they can be heard: in bins within :data:`AUDIBLE_DB` of their frame's peak
(and as a magnitude-weighted mean per frame). The largest difference over all bins is printed too, but it is not a
parity measure: the frame regressors' spectrogram is the mel filterbank's pseudo-inverse applied to the predicted
mel, which cancels to almost zero in a few bins of loud frames (clamped at the 1e-5 log floor), and there the log
turns a rounding difference of the mel into a large one. On an H100, regressor_midi's mel differs by at most
5e-4 nats between the devices (cuDNN's convolutions and LSTMs use TF32 by default), yet 19 single bins, 64 to
122 dB below their frame's peak, differ by up to 1.77 in the log; without TF32 the mel differs by 7e-6.

    python benchmarks/bench_devices.py                          # CPU only when there is no GPU
    python benchmarks/bench_devices.py --demo resources/demo/cello.mp4 --models resources/models/minet.safetensors
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minet_desktop.engine.session import Session  # noqa: E402
from minet_desktop.pose.keypoint_file import KeypointFile, sidecar_path  # noqa: E402

#: Bins quieter than this far below their frame's peak (on either device) are left out of the parity check.
AUDIBLE_DB = 60.0


def compare_spectrograms(a: np.ndarray, b: np.ndarray, tol: float = 0.05) -> dict[str, float]:
    """CPU/GPU agreement of two log-magnitude spectrograms ``(n_bins, T)`` (the shorter length is compared).

    ``max_all``: the largest ``|a - b|`` over every bin; ``max_audible``: over the bins within
    :data:`AUDIBLE_DB` of their frame's peak; ``weighted``: the largest per-frame mean ``|a - b|`` weighted by
    the magnitude; ``frames_close``: the share of frames whose audible bins are all within ``tol``.
    """
    n = min(a.shape[-1], b.shape[-1])
    a, b = a[..., :n].astype(np.float64), b[..., :n].astype(np.float64)
    diff = np.abs(a - b)
    mag = np.exp(np.maximum(a, b))
    audible = mag >= mag.max(axis=0, keepdims=True) * 10 ** (-AUDIBLE_DB / 20)
    frame_max = np.where(audible, diff, 0.0).max(axis=0)
    weighted = (mag * diff).sum(axis=0) / mag.sum(axis=0)
    return {
        "max_all": float(diff.max()),
        "max_audible": float(frame_max.max()),
        "weighted": float(weighted.max()),
        "frames_close": float((frame_max < tol).mean()),
    }


def _notes(demo: Path) -> list | None:
    """The demo's notes: ``<name>.notes.txt`` beside it if there is one (machines without pretty_midi), else its
    ``.mid``."""
    from minet_desktop.media.midi import read_midi_notes, read_notes_txt

    txt, midi = demo.with_suffix(".notes.txt"), demo.with_suffix(".mid")
    if txt.is_file():
        return read_notes_txt(txt)
    return read_midi_notes(midi) if midi.is_file() else None


def run(
    model: Path, kf: KeypointFile, notes: list | None, device: str, seed: int
) -> tuple[float, np.ndarray, object]:
    s = Session(model, device=device)
    use_notes = notes if s.model_type.endswith("_midi") else None
    kw = {"seed": seed, "temperature": 0.0} if s.model_type.startswith("minet") else {"seed": seed}
    s.generate(kf, notes=use_notes, **kw)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    r = s.generate(kf, notes=use_notes, **kw)
    dt = time.perf_counter() - t0
    return dt / r.duration, r.spectrogram[0], r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default=str(REPO / "resources" / "demo" / "violin.mp4"))
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=1, help="CPU threads (1: what a busy 2-core machine gives)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    demo = Path(args.demo)
    kf = KeypointFile.load(sidecar_path(demo))
    notes = _notes(demo)
    models = (
        [Path(m) for m in args.models]
        if args.models
        else sorted((REPO / "resources" / "models").glob("*.safetensors"))
    )
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"{demo.name} ({kf.duration:.1f} s); CPU threads {args.threads}; GPU {gpu}; torch {torch.__version__}"
    )
    for m in models:
        out = {d: run(m, kf, notes, d, args.seed) for d in devices}
        line = f"{m.name:28s} " + "  ".join(f"{d} RTF {out[d][0]:.4f}" for d in devices)
        if len(devices) == 2:
            c = compare_spectrograms(out["cpu"][1], out["cuda"][1])
            ra, rb = out["cpu"][2], out["cuda"][2]
            same = (
                "" if ra.codes is None else f", codes equal {float((ra.codes == rb.codes).mean()):.3f}"  # type: ignore[attr-defined]
            )
            line += (
                f"  | max |diff| {c['max_audible']:.3g} within {AUDIBLE_DB:g} dB of the peak "
                f"({c['max_all']:.3g} in any bin), weighted {c['weighted']:.3g}, "
                f"frames within 0.05: {c['frames_close']:.3f}{same}"
            )
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
