"""Generation speed at the paper's model size: real-time factor, KV cache vs recomputation, live latency.

The bundle is ``BundleConfig()`` (the paper's sizes) with *random weights*: speed does not depend on what the
weights are, only on their shapes (the prior samples near-uniform codes, which costs the same as trained
ones). Inputs are synthetic performances at 30 fps.

* **RTF** (real-time factor) = wall time / audio duration of the whole pipeline, keypoints -> waveform
  (skeleton preparation, movement windows, prior, VQ-VAE decode, Griffin-Lim), per stage too; < 1 is faster
  than real time. Measured at 4 s and 60 s, with the bundle's Griffin-Lim iterations and fewer.
* **KV cache vs naive** at 60 s: the prior's sampling alone (the engine's ``CodeSampler``, one take, and
  ``Prior.generate``), with the key/value cache (on CUDA: replayed as a CUDA graph, and eager) and with the
  whole window recomputed at every code (``use_cache=False``, the naive reference): seconds, ms per code and
  the naive / cached ratio. A warm-up run precedes each cached timing; the timed run includes its own graph capture.
  Printed with it: the transformer positions each computes, whose ratio is the most the cache can save (at the
  paper's window of 64 codes restarted with the last 32: about 24x, whatever the length).
* **Live latency** (the generator alone; benchmarks/bench_live.py runs the whole live pipeline): frames pushed one at a time at 30 fps into a :class:`LiveGenerator`; the compute time of a
  push that completes audio (median / 95th percentile / max) plus the buffering latency by construction.

    python benchmarks/bench_generate.py                   # all of it, ~2-4 minutes on 2 CPU cores
    python benchmarks/bench_generate.py --device cuda
    python benchmarks/bench_generate.py --seconds 4 --skip-naive --skip-live
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))

from engine_helpers import performance  # noqa: E402  (the tests' synthetic performer)

from minet_desktop.engine.session import Session  # noqa: E402
from minet_desktop.engine.streaming import LiveGenerator  # noqa: E402
from minet_desktop.model.bundle import build_modules, save_bundle  # noqa: E402
from minet_desktop.model.config import BundleConfig  # noqa: E402


def _bundle(tmp: Path) -> Path:
    cfg = BundleConfig()
    torch.manual_seed(0)
    vqvae, movement, prior = build_modules(cfg)
    return save_bundle(tmp / "paper.safetensors", cfg, vqvae, movement, prior, model_card="random weights")


def rtf(session: Session, seconds: float, gl_iters: int | None, repeats: int) -> None:
    kf = performance(seconds, 30.0)
    session.generate(performance(1.0, 30.0), seed=0, griffin_lim_iters=2)  # warm-up
    runs = []
    for r in range(repeats):
        t0 = time.perf_counter()
        res = session.generate(kf, seed=r, griffin_lim_iters=gl_iters)
        runs.append((time.perf_counter() - t0, res.timings))
    wall, timings = min(runs, key=lambda x: x[0])
    iters = gl_iters or session.cfg.audio.griffin_lim_iters
    stages = "  ".join(f"{k} {v:6.3f}s" for k, v in timings.items() if k != "total")
    print(f"{seconds:5.0f} s  GL {iters:3d}  wall {wall:7.3f} s  RTF {wall / seconds:6.4f}   [{stages}]")


def positions_processed(n: int, block: int, keep: int) -> tuple[int, int]:
    """Transformer positions computed to draw ``n`` codes (the engine's window schedule: a window holds up to
    ``block`` codes after BOS and restarts as [BOS, last ``keep`` codes]) -> (naive, cached).

    Naive recomputes every position of the window for each code; cached prefills a window's first positions
    once and then computes one position per code. Their ratio is what the KV cache can save in arithmetic:
    its speed-up where a step is compute-bound, an upper bound where per-step overhead dominates.
    """
    naive = cached = 0
    w = 0  # codes in the current window
    new_window = True
    for _ in range(n):
        naive += w + 1
        cached += w + 1 if new_window else 1
        new_window = False
        w += 1
        if w >= block:
            w, new_window = keep, True
    return naive, cached


def kv_vs_naive(session: Session, seconds: float) -> None:
    from minet_desktop.engine.sampling import CodeSampler

    prior = session.backend.bundle.prior  # type: ignore[attr-defined]
    cfg = session.cfg
    n = int(round(seconds * cfg.code_rate))
    h = torch.randn(n, cfg.movement.out_features, device=session.device)
    cuda = session.device.type == "cuda"
    naive = "naive: window recomputed"
    # (name, use_cache, graph); on the CPU there is no graph to capture.
    variants = [("cached, CUDA graph", True, True), ("cached, eager", True, False)] if cuda else []
    variants += [] if cuda else [("cached", True, False)]
    variants.append((naive, False, False))

    def engine(use_cache: bool, graph: bool) -> list[int]:
        sampler = CodeSampler(prior, [0], use_cache=use_cache, graph=graph)
        codes = [int(sampler.step(h[t][None])[0]) for t in range(n)]
        if graph and sampler._decoder is not None and not sampler._decoder.graphed:
            print("   (CUDA graph capture failed: this row ran eagerly)")
        return codes

    def generate(use_cache: bool, graph: bool) -> None:
        gen = torch.Generator(device=session.device).manual_seed(0)
        prior.generate(h[None], n, generator=gen, use_cache=use_cache, graph=graph)
        if cuda:
            torch.cuda.synchronize()

    print(
        f"{n} codes ({seconds:.0f} s, window {cfg.prior.block_size}, keep {cfg.prior.window_keep}), one take:"
    )
    pn, pc = positions_processed(n, cfg.prior.block_size, cfg.prior.window_keep)
    print(
        f"  positions computed: naive {pn}, cached {pc} -> arithmetic ceiling of the KV cache {pn / pc:.1f}x "
        "(the most it can save where steps are compute-bound)"
    )
    for label, run in (("engine CodeSampler", engine), ("Prior.generate    ", generate)):
        secs, codes = {}, {}
        for name, use_cache, graph in variants:
            if use_cache:
                run(use_cache, graph)  # warm-up; the timed run includes its own sampler's graph capture
            t0 = time.perf_counter()
            codes[name] = run(use_cache, graph)
            secs[name] = time.perf_counter() - t0
        for name, _, _ in variants:
            line = f"  {label}  {name:25s} {secs[name]:7.3f} s  {1000 * secs[name] / n:6.3f} ms/code"
            if name != naive:
                line += f"   naive / this {secs[naive] / secs[name]:5.1f}x"
                if codes[name] is not None:
                    line += f"   same codes as naive: {codes[name] == codes[naive]}"
            print(line)


def live(session: Session, seconds: float, gl_iters: int, lookahead: int) -> None:
    kf = performance(seconds, 30.0)
    gen = LiveGenerator(session, 30.0, seed=0, griffin_lim_iters=gl_iters, lookahead_codes=lookahead)
    pushes = []
    t_all = time.perf_counter()
    for frame in kf.keypoints:
        t0 = time.perf_counter()
        gen.push_frames(frame)
        out = gen.pull_audio()
        if out.size:
            pushes.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    ms = sorted(1000 * p for p in pushes[5:])  # after warm-up
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(
        f"live {seconds:.0f} s, GL {gl_iters}/block, lookahead {lookahead} codes: compute per audio-producing "
        f"push median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms; "
        f"buffering latency {1000 * gen.latency_s:.0f} ms -> frame-to-audio ~{1000 * gen.latency_s + p95:.0f} ms "
        f"(p95); live RTF {total / seconds:.3f}; state {gen.state_nbytes() / 1e6:.2f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    ap.add_argument("--seconds", type=float, nargs="+", default=[4.0, 60.0])
    ap.add_argument(
        "--gl-iters", type=int, nargs="+", default=[64, 32], help="Griffin-Lim iterations to time"
    )
    ap.add_argument("--repeats", type=int, default=2, help="runs per measurement; the fastest is reported")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(_bundle(Path(tmp)), device=args.device)
        print(f"paper-size bundle (random weights) on {session.device_name}, torch {torch.__version__}")
        print("-- whole pipeline, keypoints -> waveform")
        for seconds in args.seconds:
            for iters in args.gl_iters:
                rtf(session, seconds, iters, args.repeats)
        if not args.skip_naive:
            print("-- prior sampling: key/value cache vs recomputing the window")
            kv_vs_naive(session, max(args.seconds))
        if not args.skip_live:
            print("-- live mode")
            live(session, 10.0, 16, 1)  # the LiveGenerator default


if __name__ == "__main__":
    main()
