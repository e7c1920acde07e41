"""Model sizes: frozen dataclasses that travel inside every model bundle.

Like :mod:`minet_desktop.core.config` this module is plain Python (no torch), so the app, the CLI and training
config files can read and compare a bundle's settings without building a model. Serialise with
:func:`minet_desktop.core.config.to_dict` / ``from_dict`` / ``to_json`` / ``from_json`` (strict: an unknown key
is a :class:`~minet_desktop.core.errors.ConfigError`).

Defaults are the paper's sizes (seed 000 §3-4): 512-channel VQ-VAE, 64-dimensional codes, a 1024-entry
codebook, a 3-layer bi-GRU of hidden size 32 and 2-layer / 128-dimensional / 8-head attention everywhere.
:meth:`BundleConfig.tiny` is a debug size that trains in seconds on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.core.errors import ConfigError

BUNDLE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class VQVAEConfig:
    """Multi-band residual VQ-VAE over the log-spectrogram (seed 000 §3.1, Fig. 3)."""

    # Frequency bins of the input spectrogram: the paper's 1024 (AudioConfig.n_bins); they are Conv1d channels.
    in_bins: int = 1024
    # "1D convolutions in all MBR and residual blocks whose outputs are of 512 channels" (§4).
    channels: int = 512
    # "We reduce the audio encoder outputs to 64 channels and map it to an embedding space with the size of
    # 1024" (§4).
    code_dim: int = 64
    codebook_size: int = 1024
    # Bands of the four encoder MBR blocks: "progressively divide ... into more bands in the earlier layers,
    # and into fewer bands in the latter layers"; the decoder uses the mirror (1, 2, 4, 8). Eight bands of
    # 512 channels give 64-channel sub-blocks, i.e. 128 input bins per band in the first block, about an
    # octave of the upper spectrum, where the overtones of one note sit together.
    encoder_bands: tuple[int, ...] = (8, 4, 2, 1)
    # False: the ablation of Table 4 ("1D Conv w.o. MBR"): every MBR block becomes a one-band residual block of
    # the same depth, so only the band splitting differs.
    use_mbr: bool = True
    # "two 1D convolutional residual blocks" after the MBR blocks (§3.1).
    n_res_blocks: int = 2
    # Kernel of every Conv1d in the blocks; 3 frames = 48 ms of context per layer at 62.5 frames/s.
    kernel_size: int = 3
    # Spectrogram frames per code (a power of two, made of stride-2 convolutions). The paper does not say;
    # 4 gives 15.6 codes/s, so a 4-second training crop (251 frames) is 63 codes and fits a prior context of
    # 64 (BOS + 63) while the prior still sees the rhythm at 64 ms resolution. 1 disables downsampling.
    downsample: int = 4
    # β of L = ||S - D(e)||² + β ||E(S) - sg[e]||² (§3.1), the value of the VQ-VAE paper [39].
    beta: float = 0.25
    # EMA codebook updates replace the embedding loss (§3.1); 0.99 as in [39].
    ema_decay: float = 0.99
    # A code whose EMA usage (vectors per batch) falls below this is restarted on a random encoder output
    # of the batch, so the whole codebook stays in use (Jukebox / vector-quantize-pytorch practice).
    dead_code_threshold: float = 1.0

    def __post_init__(self) -> None:
        if min(self.in_bins, self.channels, self.code_dim, self.codebook_size, self.kernel_size) <= 0:
            raise ConfigError("VQVAEConfig: sizes must be positive")
        if self.kernel_size % 2 != 1:
            raise ConfigError("VQVAEConfig: kernel_size must be odd (same-length convolutions)")
        if not self.encoder_bands:
            raise ConfigError("VQVAEConfig: encoder_bands must name at least one MBR block")
        for b in self.encoder_bands:
            if b <= 0 or self.channels % b:
                raise ConfigError(f"VQVAEConfig: channels={self.channels} must split into {b} equal bands")
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ConfigError(f"VQVAEConfig: downsample={self.downsample} must be a power of two")
        if not 0.0 < self.ema_decay < 1.0:
            raise ConfigError("VQVAEConfig: ema_decay must be in (0, 1)")
        if self.beta < 0 or self.dead_code_threshold < 0:
            raise ConfigError("VQVAEConfig: beta and dead_code_threshold must be >= 0")

    @property
    def n_downsample(self) -> int:
        """Number of stride-2 stages (log2 of ``downsample``)."""
        return int(math.log2(self.downsample))


@dataclass(frozen=True)
class MovementEncoderConfig:
    """Body movement encoder E_b: a bidirectional GRU over normalised skeletons (§3.2, §4)."""

    n_joints: int = 47
    # x and y only: detector confidence differs between OpenPose (Solos) and MediaPipe (the app), so feeding
    # it would teach the model a detector rather than a movement. True adds it as a third coordinate.
    use_confidence: bool = False
    # "a 3-layer bi-GRU with hidden size of 32" (§4).
    hidden_size: int = 32
    n_layers: int = 3
    bidirectional: bool = True
    # Between GRU layers; the paper gives none, and the encoder is tiny.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if min(self.n_joints, self.hidden_size, self.n_layers) <= 0:
            raise ConfigError("MovementEncoderConfig: sizes must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("MovementEncoderConfig: dropout must be in [0, 1)")

    @property
    def in_features(self) -> int:
        return self.n_joints * (3 if self.use_confidence else 2)

    @property
    def out_features(self) -> int:
        """Size of h and of each per-frame output: both directions of the last layer, concatenated."""
        return self.hidden_size * (2 if self.bidirectional else 1)


@dataclass(frozen=True)
class PriorConfig:
    """GPT-style prior over the codes, conditioned on h at every step (§3.2, Fig. 4)."""

    # "For all self-attention modules, we use 2 layers of 128 dimensions and 8 heads" (§4).
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 8
    # Positions in one window, BOS included: BOS + the 63 codes of a 4-second crop at downsample 4. Longer
    # sequences are generated in sliding windows (Prior.generate).
    block_size: int = 64
    # The paper does not give one; 0.1 is the GPT-1 value, and the URMP corpus is small.
    dropout: float = 0.1
    # Point-wise feed-forward width as a multiple of n_embd (4 in GPT-1 and the Transformer).
    ff_mult: int = 4
    # Beyond the paper: also feed the GRU's per-frame outputs, pooled to the code rate, at every step, so the
    # rhythm of the generated codes can follow the motion instead of only the global vector h.
    per_frame_motion: bool = False
    # Codes kept as context when a sliding window restarts (generation longer than a window); half the
    # window trades context against recomputing the cache once every (block_size - window_keep) codes.
    window_keep: int = 32

    def __post_init__(self) -> None:
        if min(self.n_layer, self.n_embd, self.n_head, self.block_size, self.ff_mult) <= 0:
            raise ConfigError("PriorConfig: sizes must be positive")
        if self.n_embd % self.n_head:
            raise ConfigError(f"PriorConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.block_size < 2:
            raise ConfigError("PriorConfig: block_size must hold BOS and at least one code")
        if not 0 <= self.window_keep < self.block_size - 1:
            raise ConfigError("PriorConfig: window_keep must be in [0, block_size - 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("PriorConfig: dropout must be in [0, 1)")


@dataclass(frozen=True)
class ContentConfig:
    """Content encoder of the MIDI-conditioned prior (§3.3, Fig. 5)."""

    # 0 = rest, pitch + 1 for the 128 MIDI pitches (media.midi.notes_to_index_sequence).
    vocab_size: int = 129
    # "two self-attention and Feed-forward layers" of 128 dimensions and 8 heads (§3.3, §4).
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 8
    # Note frames one window can hold (spectrogram rate); must cover prior.block_size * vqvae.downsample.
    max_len: int = 256
    dropout: float = 0.1
    ff_mult: int = 4

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.n_layer, self.n_embd, self.n_head, self.max_len, self.ff_mult) <= 0:
            raise ConfigError("ContentConfig: sizes must be positive")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"ContentConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("ContentConfig: dropout must be in [0, 1)")


@dataclass(frozen=True)
class BundleConfig:
    """Everything needed to rebuild a trained MI Net: representation settings and module sizes."""

    # "minet": unconditional prior (§3.2); "minet_midi": content-conditioned prior (§3.3), needs `content`.
    model_type: str = "minet"
    audio: AudioConfig = field(default_factory=AudioConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    movement: MovementEncoderConfig = field(default_factory=MovementEncoderConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    content: ContentConfig | None = None
    format_version: int = BUNDLE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.model_type not in ("minet", "minet_midi"):
            raise ConfigError(f"BundleConfig: unknown model_type {self.model_type!r} (minet, minet_midi)")
        if (self.model_type == "minet_midi") != (self.content is not None):
            raise ConfigError("BundleConfig: model_type 'minet_midi' needs a content config, 'minet' none")
        if self.vqvae.in_bins != self.audio.n_bins:
            raise ConfigError(
                f"BundleConfig: vqvae.in_bins={self.vqvae.in_bins} != audio.n_bins={self.audio.n_bins}"
            )
        if self.movement.n_joints != self.skeleton.n_joints:
            raise ConfigError(
                f"BundleConfig: movement.n_joints={self.movement.n_joints} != "
                f"skeleton.n_joints={self.skeleton.n_joints}"
            )
        if self.content is not None and self.content.max_len < self.prior.block_size * self.vqvae.downsample:
            raise ConfigError(
                f"BundleConfig: content.max_len={self.content.max_len} is shorter than one prior window "
                f"({self.prior.block_size} codes x {self.vqvae.downsample} frames)"
            )
        if self.format_version != BUNDLE_FORMAT_VERSION:
            raise ConfigError(
                f"BundleConfig: format_version {self.format_version} is not supported "
                f"(this version reads {BUNDLE_FORMAT_VERSION})"
            )

    @property
    def frames_per_code(self) -> int:
        """Spectrogram (and skeleton, and note) frames per code."""
        return self.vqvae.downsample

    @property
    def code_rate(self) -> float:
        """Codes per second (15.625 for the defaults)."""
        return self.audio.frame_rate / self.vqvae.downsample

    @classmethod
    def tiny(
        cls, model_type: str = "minet", audio: AudioConfig | None = None, **prior: object
    ) -> BundleConfig:
        """Debug sizes that train in seconds on a CPU (tests, smoke runs).

        ``audio`` defaults to a 32-bin spectrogram (n_fft 64, hop 16 at 8 kHz); pass the cache's AudioConfig to
        run on real crops (the VQ-VAE's ``in_bins`` follows it). Extra keyword arguments override
        :class:`PriorConfig` fields (e.g. ``per_frame_motion=True``).
        """
        audio = audio or AudioConfig(
            sample_rate=8000, n_fft=64, hop_length=16, n_bins=32, griffin_lim_iters=8
        )
        prior_kw: dict[str, object] = {
            "n_layer": 1,
            "n_embd": 32,
            "n_head": 4,
            "block_size": 16,
            "dropout": 0.0,
            "window_keep": 8,
        }
        prior_kw.update(prior)
        return cls(
            model_type=model_type,
            audio=audio,
            vqvae=VQVAEConfig(
                in_bins=audio.n_bins,
                channels=32,
                code_dim=8,
                codebook_size=32,
                encoder_bands=(4, 2),
                n_res_blocks=1,
                downsample=2,
            ),
            movement=MovementEncoderConfig(hidden_size=8, n_layers=2),
            prior=PriorConfig(**prior_kw),  # type: ignore[arg-type]
            content=(
                ContentConfig(n_layer=1, n_embd=32, n_head=4, max_len=32, dropout=0.0)
                if model_type == "minet_midi"
                else None
            ),
        )
