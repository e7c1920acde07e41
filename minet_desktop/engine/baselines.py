"""Generation with the MI Net paper's baselines: keypoints -> log-spectrogram -> Griffin-Lim -> audio.

The RNN Seq2Seq and the Graph-Transformer (:mod:`minet_desktop.model.baselines`) predict the spectrogram
directly from the skeleton frames, which the :class:`~minet_desktop.engine.session.Session` prepares at the
spectrogram frame rate of the bundle's audio settings; one frame in is one frame out, so the session's
guarantees (audio exactly as long as the keypoints, cancel at every yield, the out-of-memory fallback) hold.

Stages, each yielding :class:`~minet_desktop.engine.progress.Progress` after every chunk:

1. ``spectrogram``: the model runs on windows of the training crop's length (``window_seconds``), half
   overlapping and cross-faded with triangular weights, so it always sees spans as long as it was trained on
   and a long performance costs one window per half window; a yield after every window.
2. ``waveform``: the engine's Griffin-Lim (:func:`~minet_desktop.engine.synthesis.iter_griffin_lim`) with
   the job's iterations, a yield after every iteration block.

Both baselines are deterministic: the seeds, temperature and top-k/top-p of a request change nothing, and
every take is the same audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import numpy as np
import torch
from torch import Tensor

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.engine.backends import BatchOutput, GenerationBackend, Job
from minet_desktop.engine.progress import Progress, staged
from minet_desktop.engine.synthesis import iter_griffin_lim
from minet_desktop.engine.windowing import iter_windowed
from minet_desktop.model.baselines import BaselineBundle, describe_baseline
from minet_desktop.model.config import BaselineBundleConfig

#: Share of the work per stage on a CPU at a CPU recipe's size, for one progress bar.
STAGE_WEIGHTS = {"spectrogram": 0.3, "waveform": 0.7}


class BaselineBackend(GenerationBackend):
    """The MI Net paper's RNN Seq2Seq (``seq2seq``) and Graph-Transformer (``graph_transformer``) baselines."""

    cfg: BaselineBundleConfig

    def __init__(self, bundle: BaselineBundle) -> None:
        self.bundle = bundle
        self.cfg = bundle.cfg
        self.model_type = bundle.cfg.model_type
        self.model_card = bundle.model_card
        #: The module, for callers that need more than generation (the evaluation's movement embeddings).
        self.model = bundle.model

    @property
    def audio(self) -> AudioConfig:
        return self.cfg.audio

    @property
    def skeleton(self) -> SkeletonConfig:
        return self.cfg.skeleton

    @property
    def needs_notes(self) -> bool:
        return False

    def to(self, device: torch.device) -> None:
        self.model.to(device)

    def summary(self) -> str:
        return describe_baseline(self.bundle) + "\ndeterministic: seeds and sampling settings are ignored"

    def describe(self) -> str:
        cfg = self.cfg
        window = f"windows of {cfg.window_seconds:.2f} s ({cfg.window_frames} frames), half-overlapping"
        if cfg.seq2seq is not None:
            s = cfg.seq2seq
            lines = [
                f"encoder         bi-GRU {s.encoder_layers} x {s.encoder_hidden} over the skeleton frames",
                f"decoder         GRU {s.decoder_layers} x {s.decoder_hidden}, pre-net {s.prenet_dim}, one frame per "
                f"step from its previous frame; {window}",
            ]
        else:
            g = cfg.graph_transformer
            assert g is not None
            lines = [
                f"encoder         ST-GCN {len(g.gcn_channels)} blocks {g.gcn_channels}, temporal stride "
                f"{g.total_stride}, kernel {g.temporal_kernel}",
                f"decoder         Transformer {g.n_layer} layers x {g.d_model} dims x {g.n_head} heads, one query per "
                f"frame; {window}",
            ]
        return "\n".join(lines)

    def movement_embedding(self) -> Callable[[Tensor], Tensor] | None:
        model = self.model
        return model.embed if hasattr(model, "embed") else None

    def iter_spectrogram(self, frames: np.ndarray, device: torch.device) -> Generator[Progress, None, Tensor]:
        """Predict the log-spectrogram ``(F, T)`` of skeleton frames ``(T, 3, 47)``, window by window."""
        T = int(frames.shape[0])
        W = self.cfg.window_frames
        skeleton = torch.from_numpy(np.ascontiguousarray(frames.transpose(1, 2, 0), dtype=np.float32))
        skeleton = skeleton[None].to(device)  # (1, 3, 47, T)
        return (
            yield from iter_windowed(
                lambda a, b: self.model.generate(skeleton[..., a:b])[0],
                T,
                W,
                self.cfg.audio.n_bins,
                device,
                "spectrogram",
                STAGE_WEIGHTS,
            )
        )

    def iter_batch(
        self, job: Job, seeds: list[int], device: torch.device
    ) -> Generator[Progress, None, BatchOutput]:
        B = len(seeds)
        t0 = time.perf_counter()
        spec = yield from self.iter_spectrogram(job.frames, device)
        job.timings["spectrogram"] = job.timings.get("spectrogram", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        wave: Tensor = yield from staged(
            "waveform",
            iter_griffin_lim(spec[None], self.cfg.audio, job.griffin_lim_iters, job.n_samples),
            STAGE_WEIGHTS,
        )
        job.timings["waveform"] = job.timings.get("waveform", 0.0) + time.perf_counter() - t0
        # Deterministic: every take is the same audio.
        return BatchOutput(
            spec[None].cpu().expand(B, -1, -1).contiguous(), wave.float().cpu().expand(B, -1).contiguous()
        )
