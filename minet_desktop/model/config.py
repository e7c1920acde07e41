"""Model sizes: frozen dataclasses that travel inside every model bundle.

Like :mod:`minet_desktop.core.config` this module is plain Python (no torch), so the app, the CLI and training
config files can read and compare a bundle's settings without building a model. Serialise with
:func:`minet_desktop.core.config.to_dict` / ``from_dict`` / ``to_json`` / ``from_json`` (strict: an unknown key
is a :class:`~minet_desktop.core.errors.ConfigError`).

Defaults are the paper's sizes (MI Net paper §3-4): 512-channel VQ-VAE, 64-dimensional codes, a 1024-entry
codebook, a 3-layer bi-GRU of hidden size 32 and 2-layer / 128-dimensional / 8-head attention everywhere.
:meth:`BundleConfig.tiny` is a debug size that trains in seconds on a CPU.

Visually Indicated Music's frame regressor has its own bundle config, :class:`RegressorBundleConfig` (mel settings, skeleton,
:class:`RegressorConfig` sizes); its defaults are that paper's (§3.3): ResNet-18 on 224x224 frames at 30 fps, a
two-layer LSTM of 512, 80 mel bands, a one-layer LSTM of 128 over a 128-pitch piano roll for the MIDI variant.

The MI Net paper's baselines (§4) have :class:`BaselineBundleConfig` (the RNN Seq2Seq's :class:`Seq2SeqConfig` or the
Graph-Transformer's :class:`GraphTransformerConfig`, with the audio settings and the window) and Table 5's GRU
seq2seq :class:`GRUContentBundleConfig` (the VQ-VAE's sizes, the movement encoder, :class:`GRUContentConfig`);
the paper gives no sizes for them, so their defaults are ours (documented field by field).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from minet_desktop.core.config import AudioConfig, MelConfig, SkeletonConfig
from minet_desktop.core.errors import ConfigError

BUNDLE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class VQVAEConfig:
    """Multi-band residual VQ-VAE over the log-spectrogram (MI Net paper §3.1, Fig. 3)."""

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
    # Hidden width of a residual output head on the decoder (0: none, the paper's decoder). The paper's last
    # layer maps ``channels`` features to the ``in_bins`` bins linearly, so every decoded frame is a mix of a
    # few hundred fixed spectral shapes; at 128 channels that cannot place the upper harmonics of every pitch
    # (the trumpet's turn into a saxophone's breath). The head adds ``W2 ReLU(W1 h)`` with ``decoder_head``
    # hidden units to that layer's output; its last layer starts at zero, so a decoder trained without it is
    # unchanged until the head learns. ``minet-train decoder`` trains it on a trained VQ-VAE's frozen codes.
    decoder_head: int = 0
    # Earlier codes (this one included) whose mean the decoder adds to its input (0: none, the paper's decoder,
    # which sees a few codes either side). A code says little about which instrument plays (its codes are
    # shared across instruments), a couple of seconds of them say it well (a linear read of the code counts
    # in 2-s windows names 98 % of the test windows' instruments), so the decoder can render the instrument's
    # own timbre. Causal, so live generation needs no extra lookahead. Trained by ``minet-train decoder``.
    decoder_context: int = 0

    def __post_init__(self) -> None:
        if self.decoder_head < 0 or self.decoder_context < 0:
            raise ConfigError("VQVAEConfig: decoder_head and decoder_context must be >= 0 (0: none)")
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
    # Width of the notes each code covers, added to that code's decoder input (ContentConditionedPrior's
    # CodeNotes) besides the cross-attention: a learned position-content attention did not find the notes of
    # its own code (val NLL 2.998 nats/code against 2.944 without notes on the synthetic corpus; shifting the
    # notes by 8 codes left it unchanged). 0 = cross-attention only, as §3.3 and the bundles made before it.
    aligned_dim: int = 0
    # Codes on each side of a code whose notes its aligned features see (onsets just before / after it).
    aligned_context: int = 1

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.n_layer, self.n_embd, self.n_head, self.max_len, self.ff_mult) <= 0:
            raise ConfigError("ContentConfig: sizes must be positive")
        if self.aligned_dim < 0 or self.aligned_context < 0:
            raise ConfigError("ContentConfig: aligned_dim and aligned_context must be >= 0")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"ContentConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("ContentConfig: dropout must be in [0, 1)")


@dataclass(frozen=True)
class OnsetDetectorConfig:
    """Where notes start, read from the movement (``minet-train onsets``; :mod:`minet_desktop.model.onsets`).

    A stack of dilated 1-D convolutions over the normalised skeleton frames (positions, their frame-to-frame
    velocities and the tracker's confidences, one frame per spectrogram frame) gives each frame the probability
    that a note starts there; a note starts at each local maximum above ``threshold``, two at least
    ``min_gap_s`` apart. It sees ``receptive_field`` frames around each frame: a bow change or a finger change
    with the motion before and after it. Trained on the training split's scores (their onsets are the only
    labels it uses; never the instrument), the threshold chosen on the validation split.
    """

    n_joints: int = 47
    hidden: int = 128
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    threshold: float = 0.5
    min_gap_s: float = 0.096

    def __post_init__(self) -> None:
        if (
            min(self.n_joints, self.hidden, self.kernel) <= 0
            or not self.dilations
            or min(self.dilations) <= 0
        ):
            raise ConfigError("OnsetDetectorConfig: sizes and dilations must be positive")
        if self.kernel % 2 == 0:
            raise ConfigError(
                f"OnsetDetectorConfig: kernel={self.kernel} must be odd (centred on each frame)"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"OnsetDetectorConfig: threshold={self.threshold} must be in (0, 1)")
        if not 0.0 <= self.min_gap_s <= 2.0:
            raise ConfigError(f"OnsetDetectorConfig: min_gap_s={self.min_gap_s} must be in [0, 2] seconds")

    @property
    def in_channels(self) -> int:
        """x, y and their velocities, and the confidence, per joint."""
        return 5 * self.n_joints

    @property
    def receptive_field(self) -> int:
        """Frames each output sees: an input layer of ``kernel + 2`` and the dilated layers."""
        return self.kernel + 2 + sum((self.kernel - 1) * d for d in self.dilations)


@dataclass(frozen=True)
class InstrumentPrototypesConfig:
    """Which instrument a movement looks like, without labels at inference (``minet-train prototypes``).

    The bundle holds one prototype per instrument: the mean movement vector h of the training split's windows
    of that instrument (labels are used there, and only there), and a whitening of h by the pooled
    within-instrument covariance. A window's score for instrument k is ``-|W (h - mu_k)|^2 / 2``; a
    performance's probabilities are the softmax of its windows' mean scores divided by ``temperature``.
    """

    codes: tuple[str, ...] = ()
    # Softmax temperature of the mean window scores, fitted on the validation split (negative log-likelihood
    # of excerpts' instruments): the probabilities shown are calibrated, not the raw Gaussian posterior.
    temperature: float = 1.0
    # Mean (over windows) of the smallest whitened squared distance to a prototype, per dimension of h,
    # above which the movement looks like none of the instruments (a margin over the validation excerpts').
    max_distance: float = float("inf")
    # How much the performer moves (median over windows of the joints' mean positional spread, in shoulder
    # widths; engine.instruments.movement_extent) below which nobody is playing: a still pose.
    min_motion: float = 0.0
    # Also prototypes of the per-frame motion features (priors with per_frame_motion), for the override.
    motion: bool = False
    # The override moves a performance's movement vectors by this many times the step from their mean to the
    # chosen instrument's prototype (1: the mean lands on the prototype); chosen by measuring how often the
    # evaluation's judge hears the chosen instrument (minet-train override-eval).
    strength: float = 1.0
    # The override's target lies this many times the step from the instrument's most similar neighbour (the
    # nearest other prototype, whitened) beyond the instrument's own prototype: instruments that are held and
    # moved alike (violin and viola, oboe and clarinet) are told apart by the prior only past the middle.
    # 0: the prototype itself. Chosen on the validation split (minet-train override-eval --split val).
    contrast: float = 0.0
    # In Auto (no instrument chosen), generation steers the movement toward the instrument the prototypes
    # detect, unless the movement looks like none (``max_distance``, ``min_motion``): by this many times the
    # step from the performance's mean movement to that instrument's target (``auto_contrast`` as ``contrast``
    # for the override). 0: not at all, the prior reads the instrument from the movement alone (bundles
    # written before it). Chosen by measuring how often the evaluation's judge hears the instrument played,
    # and NDB (`minet-train prototypes --auto-steer S --auto-contrast C`).
    auto_steer: float = 0.0
    auto_contrast: float = 0.0
    # How a window is scored: "prototypes", the Gaussian score above; "linear", a multinomial logistic
    # regression on the whitened movement vector fitted on the training split's windows (the labels' second
    # use; nothing at inference needs a label). The prototypes still give the distance ("uncertain") and the
    # override's targets.
    classifier: str = "prototypes"

    def __post_init__(self) -> None:
        if len(set(self.codes)) != len(self.codes) or len(self.codes) < 2:
            raise ConfigError("InstrumentPrototypesConfig: needs at least two distinct instrument codes")
        if not self.temperature > 0:
            raise ConfigError("InstrumentPrototypesConfig: temperature must be positive")
        if not self.contrast >= 0 or not self.auto_contrast >= 0:
            raise ConfigError("InstrumentPrototypesConfig: contrast must be zero or positive")
        if self.classifier not in ("prototypes", "linear"):
            raise ConfigError(
                f"InstrumentPrototypesConfig: classifier must be 'prototypes' or 'linear', not {self.classifier!r}"
            )
        if not 0 <= self.auto_steer <= 2:
            raise ConfigError("InstrumentPrototypesConfig: auto_steer must lie in 0..2")


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
    # Per-instrument prototypes of the movement vector (detection and the instrument override); None in
    # bundles written before them, which generate as before but cannot tell or change the instrument.
    instruments: InstrumentPrototypesConfig | None = None
    # Where notes start, from the movement (articulation of the generated spectrogram); None: bundles written
    # before it, which articulate at the hand-made movement events (engine.articulation.movement_events).
    onsets: OnsetDetectorConfig | None = None
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
        if self.onsets is not None and self.onsets.n_joints != self.skeleton.n_joints:
            raise ConfigError(
                f"BundleConfig: onsets.n_joints={self.onsets.n_joints} != skeleton.n_joints={self.skeleton.n_joints}"
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


# --------------------------------------------------------------------------------------------------------
# Visually Indicated Music's frame-based regressor

REGRESSOR_TYPES = ("frame_regressor", "frame_regressor_midi")


@dataclass(frozen=True)
class RegressorConfig:
    """Visually Indicated Music's spectrogram regressor: ResNet-18 over frames -> LSTM -> 80-band log-mel (§3.3).

    The frames are stick figures drawn from the keypoints (:mod:`minet_desktop.features.pose_image`), so the
    same picture reaches the model in training and in the app whatever the camera filmed.
    """

    # "Each frame is resized to 224x224" (§3.1). A CPU recipe uses 64-112: the ResNet's cost goes with the
    # square of the side.
    image_size: int = 224
    # One luminance channel instead of RGB: a third of the first convolution's work, and the stick figure's
    # shapes survive (left and right limbs differ in grey level only slightly; their positions tell them apart).
    grayscale: bool = False
    # Channel multiplier of ResNet-18 (64-128-256-512 at 1.0); the visual embedding is 512 * width.
    width: float = 1.0
    # Images per second drawn and encoded; "sample at 30 fps" (§3.1). Features are interpolated in time to the
    # mel frame rate (~43 frames/s), so a lower rate (a CPU recipe's 10-15) costs the CNN proportionally less.
    image_fps: float = 30.0
    # "A two-layer LSTM (hidden size 512)" decodes the fused embeddings into mel frames (§3.3).
    lstm_hidden: int = 512
    lstm_layers: int = 2
    # Between LSTM layers; the paper gives none.
    dropout: float = 0.0
    # Output bands: MelConfig.n_mels (80 in the paper).
    n_mels: int = 80
    # The MIDI-auxiliary branch (§3.3): a piano roll of the notes at the mel frame rate ("T x F, F the MIDI
    # pitch range") -> a one-layer LSTM of hidden size 128, concatenated with the visual embedding.
    midi: bool = False
    n_pitches: int = 128
    midi_hidden: int = 128
    # The view of the drawing, in normalised skeleton units (shoulder widths from the median neck): the
    # square view_center ± view_half fills the image (see features.pose_image.VIEW_CENTER / VIEW_HALF).
    view_center: tuple[float, float] = (-0.2, 0.3)
    view_half: float = 1.6

    def __post_init__(self) -> None:
        if self.image_size < 16:
            raise ConfigError(f"RegressorConfig: image_size={self.image_size} must be at least 16 pixels")
        if not self.width > 0 or round(64 * self.width) < 4:
            raise ConfigError(f"RegressorConfig: width={self.width} gives fewer than 4 channels")
        if not self.image_fps > 0:
            raise ConfigError("RegressorConfig: image_fps must be > 0")
        if min(self.lstm_hidden, self.lstm_layers, self.n_mels, self.n_pitches, self.midi_hidden) <= 0:
            raise ConfigError("RegressorConfig: sizes must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("RegressorConfig: dropout must be in [0, 1)")
        if not self.view_half > 0:
            raise ConfigError("RegressorConfig: view_half must be > 0")

    @property
    def channels(self) -> int:
        """Image channels: 1 (grayscale) or 3 (RGB)."""
        return 1 if self.grayscale else 3

    @property
    def base_width(self) -> int:
        """Channels of the ResNet's first stage (64 at width 1)."""
        return int(round(64 * self.width))

    @property
    def feature_dim(self) -> int:
        """Size of the visual embedding: the last stage's channels (512 at width 1)."""
        return 8 * self.base_width


@dataclass(frozen=True)
class RegressorBundleConfig:
    """Everything needed to rebuild a trained frame regressor: the mel settings, the skeleton, the sizes."""

    # "frame_regressor": vision only; "frame_regressor_midi": with the piano-roll branch (regressor.midi).
    model_type: str = "frame_regressor"
    mel: MelConfig = field(default_factory=MelConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    regressor: RegressorConfig = field(default_factory=RegressorConfig)
    # Length of the training crops, and of the windows the app predicts in (half-overlapping, cross-faded;
    # Visually Indicated Music §3.5 slides 64-frame windows by 32). 64 frames at 30 fps by default.
    window_seconds: float = 64 / 30
    format_version: int = BUNDLE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.model_type not in REGRESSOR_TYPES:
            raise ConfigError(
                f"RegressorBundleConfig: unknown model_type {self.model_type!r} ({', '.join(REGRESSOR_TYPES)})"
            )
        if (self.model_type == "frame_regressor_midi") != self.regressor.midi:
            raise ConfigError(
                "RegressorBundleConfig: model_type 'frame_regressor_midi' needs regressor.midi = true, "
                "'frame_regressor' false"
            )
        if self.regressor.n_mels != self.mel.n_mels:
            raise ConfigError(
                f"RegressorBundleConfig: regressor.n_mels={self.regressor.n_mels} != mel.n_mels={self.mel.n_mels}"
            )
        if self.window_frames < 2:
            raise ConfigError(
                f"RegressorBundleConfig: window_seconds={self.window_seconds} holds fewer than 2 mel frames"
            )
        if self.format_version != BUNDLE_FORMAT_VERSION:
            raise ConfigError(
                f"RegressorBundleConfig: format_version {self.format_version} is not supported "
                f"(this version reads {BUNDLE_FORMAT_VERSION})"
            )

    @property
    def frame_rate(self) -> float:
        """Mel frames per second (22050 / 512 = 43.07 by default): the rate of the output and the LSTM."""
        return self.mel.frame_rate

    @property
    def window_frames(self) -> int:
        """Mel frames of one window: ``round(window_seconds * sr) // hop + 1`` (as the cache's crops)."""
        return int(round(self.window_seconds * self.mel.sample_rate)) // self.mel.hop_length + 1

    @property
    def audio(self) -> AudioConfig:
        """The linear STFT that Griffin-Lim inverts, as an :class:`AudioConfig` (not a stored setting).

        The regressor predicts mel bands; the engine maps them to ``n_fft // 2 + 1`` linear bins with the
        filterbank's pseudo-inverse and runs Griffin-Lim on that spectrogram, so this is the grid of the
        output the app shows and plays: 22.05 kHz, hop 512 (its ``frame_rate`` is the mel's), 513 bins.
        """
        m = self.mel
        return AudioConfig(
            sample_rate=m.sample_rate,
            n_fft=m.n_fft,
            hop_length=m.hop_length,
            n_bins=m.n_fft // 2 + 1,
            log_floor=m.log_floor,
            griffin_lim_iters=m.griffin_lim_iters,
        )

    @classmethod
    def tiny(cls, midi: bool = False, **regressor: object) -> RegressorBundleConfig:
        """Debug sizes that run in milliseconds on a CPU (tests): 32-pixel grey images, an 8-channel ResNet,
        an LSTM of 16, 10 images/s, half-second windows. Keyword arguments override RegressorConfig fields."""
        kw: dict[str, object] = {
            "image_size": 32,
            "grayscale": True,
            "width": 0.125,
            "image_fps": 10.0,
            "lstm_hidden": 16,
            "lstm_layers": 2,
            "midi": midi,
            "midi_hidden": 8,
        }
        kw.update(regressor)
        return cls(
            model_type="frame_regressor_midi" if kw["midi"] else "frame_regressor",
            regressor=RegressorConfig(**kw),  # type: ignore[arg-type]
            window_seconds=0.5,
        )


# --------------------------------------------------------------------------------------------------------
# The MI Net paper's baselines (§4): RNN Seq2Seq and Graph-Transformer (Tables 1-2), GRU seq2seq content model (Table 5)

BASELINE_TYPES = ("seq2seq", "graph_transformer")


def _check_common(name: str, dropout: float, *sizes: int) -> None:
    if min(sizes) <= 0:
        raise ConfigError(f"{name}: sizes must be positive")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{name}: dropout must be in [0, 1)")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """RNN Seq2Seq baseline: a bi-GRU over the skeleton frames, a GRU decoder emitting spectrogram frames.

    The paper says only "an encoder-decoder recurrent neural network" (§4); these sizes are ours.
    """

    # x and y only, as the movement encoder (MovementEncoderConfig.use_confidence).
    use_confidence: bool = False
    # A bidirectional GRU like MI Net's movement encoder, wider (128 per direction, 2 layers): here it alone
    # carries what the decoder needs to know about the movement, frame by frame.
    encoder_hidden: int = 128
    encoder_layers: int = 2
    # Unidirectional GRU stack, one spectrogram frame per step.
    decoder_hidden: int = 256
    decoder_layers: int = 2
    # Tacotron's pre-net on the previous frame (two layers, dropout 0.5 while training): without it a
    # teacher-forced decoder learns to copy its previous frame and ignores the movement.
    prenet_dim: int = 256
    prenet_dropout: float = 0.5
    # Between GRU layers.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_common(
            "Seq2SeqConfig",
            self.dropout,
            self.encoder_hidden,
            self.encoder_layers,
            self.decoder_hidden,
            self.decoder_layers,
            self.prenet_dim,
        )
        if not 0.0 <= self.prenet_dropout < 1.0:
            raise ConfigError("Seq2SeqConfig: prenet_dropout must be in [0, 1)")

    @property
    def embed_dim(self) -> int:
        """Size of :meth:`Seq2Seq.embed`: both directions of the encoder's last layer."""
        return 2 * self.encoder_hidden


@dataclass(frozen=True)
class GraphTransformerConfig:
    """Graph-Transformer baseline (Foley Music style): ST-GCN over the skeleton graph -> Transformer decoder."""

    use_confidence: bool = False
    # ST-GCN blocks (spatial graph convolution + temporal convolution): output channels and temporal strides.
    # ST-GCN [43] doubles channels where it halves time; a total stride of 4 leaves one pose feature per
    # 64 ms, the code rate of MI Net's VQ-VAE.
    gcn_channels: tuple[int, ...] = (64, 64, 128, 128, 256)
    gcn_strides: tuple[int, ...] = (1, 1, 2, 1, 2)
    # ST-GCN's temporal kernel: 9 frames (144 ms at 62.5 frames/s).
    temporal_kernel: int = 9
    # "For all self-attention modules, we use 2 layers of 128 dimensions and 8 heads" (§4).
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 8
    ff_mult: int = 4
    # In the Transformer decoder (the ST-GCN blocks have none: see model.baselines.STGCNBlock).
    dropout: float = 0.1
    # Learned queries, one per output frame of a window: at least the window's frames (251 for 4 s).
    max_frames: int = 256

    def __post_init__(self) -> None:
        _check_common(
            "GraphTransformerConfig",
            self.dropout,
            self.temporal_kernel,
            self.d_model,
            self.n_layer,
            self.n_head,
            self.ff_mult,
            self.max_frames,
        )
        if not self.gcn_channels or len(self.gcn_channels) != len(self.gcn_strides):
            raise ConfigError("GraphTransformerConfig: gcn_channels and gcn_strides need one entry per block")
        if min(self.gcn_channels) <= 0 or min(self.gcn_strides) <= 0:
            raise ConfigError("GraphTransformerConfig: gcn_channels and gcn_strides must be positive")
        if self.temporal_kernel % 2 != 1:
            raise ConfigError("GraphTransformerConfig: temporal_kernel must be odd")
        if self.d_model % self.n_head:
            raise ConfigError(
                f"GraphTransformerConfig: d_model={self.d_model} must be divisible by n_head={self.n_head}"
            )

    @property
    def total_stride(self) -> int:
        """Spectrogram frames per pose feature of the ST-GCN's output."""
        return math.prod(self.gcn_strides)

    @property
    def embed_dim(self) -> int:
        """Size of :meth:`GraphTransformer.embed`: the last ST-GCN block's channels."""
        return self.gcn_channels[-1]


@dataclass(frozen=True)
class BaselineBundleConfig:
    """A trained baseline: the spectrogram it predicts, the skeleton, its sizes and its window."""

    # "seq2seq" (needs `seq2seq`) or "graph_transformer" (needs `graph_transformer`).
    model_type: str = "seq2seq"
    audio: AudioConfig = field(default_factory=AudioConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    seq2seq: Seq2SeqConfig | None = None
    graph_transformer: GraphTransformerConfig | None = None
    # Length of the training crops, and of the half-overlapping windows the app predicts in.
    window_seconds: float = 4.0
    format_version: int = BUNDLE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.model_type not in BASELINE_TYPES:
            raise ConfigError(
                f"BaselineBundleConfig: unknown model_type {self.model_type!r} ({', '.join(BASELINE_TYPES)})"
            )
        if (self.seq2seq is not None) != (self.model_type == "seq2seq") or (
            self.graph_transformer is not None
        ) != (self.model_type == "graph_transformer"):
            raise ConfigError(
                f"BaselineBundleConfig: model_type {self.model_type!r} needs exactly its own config "
                "(seq2seq or graph_transformer)"
            )
        if self.window_frames < 2:
            raise ConfigError(f"BaselineBundleConfig: window_seconds={self.window_seconds} holds < 2 frames")
        gt = self.graph_transformer
        if gt is not None and gt.max_frames < self.window_frames:
            raise ConfigError(
                f"BaselineBundleConfig: graph_transformer.max_frames={gt.max_frames} is shorter than one "
                f"window ({self.window_frames} frames of {self.window_seconds} s)"
            )
        if self.format_version != BUNDLE_FORMAT_VERSION:
            raise ConfigError(
                f"BaselineBundleConfig: format_version {self.format_version} is not supported "
                f"(this version reads {BUNDLE_FORMAT_VERSION})"
            )

    @property
    def window_frames(self) -> int:
        """Spectrogram frames of one window: ``round(window_seconds * sr) // hop + 1`` (as the cache's crops)."""
        return int(round(self.window_seconds * self.audio.sample_rate)) // self.audio.hop_length + 1

    @classmethod
    def tiny(cls, model_type: str = "seq2seq", audio: AudioConfig | None = None) -> BaselineBundleConfig:
        """Debug sizes that run in milliseconds on a CPU (tests); ``audio`` as in :meth:`BundleConfig.tiny`."""
        audio = audio or AudioConfig(
            sample_rate=8000, n_fft=64, hop_length=16, n_bins=32, griffin_lim_iters=8
        )
        return cls(
            model_type=model_type,
            audio=audio,
            seq2seq=Seq2SeqConfig(
                encoder_hidden=8, encoder_layers=1, decoder_hidden=16, decoder_layers=1, prenet_dim=16
            )
            if model_type == "seq2seq"
            else None,
            graph_transformer=GraphTransformerConfig(
                gcn_channels=(8, 16),
                gcn_strides=(1, 2),
                temporal_kernel=3,
                d_model=16,
                n_layer=1,
                n_head=2,
                ff_mult=2,
                dropout=0.0,
                max_frames=64,
            )
            if model_type == "graph_transformer"
            else None,
            window_seconds=0.1,  # 51 frames at hop 16 / 8 kHz
        )


@dataclass(frozen=True)
class GRUContentConfig:
    """Table 5's GRU seq2seq: notes (+ movement) -> VQ-VAE codes, instead of content encoder + prior (§4)."""

    # 0 = rest, pitch + 1 (ContentConfig.vocab_size).
    vocab_size: int = 129
    note_embd: int = 64
    # Bidirectional GRU over the notes at the spectrogram frame rate.
    encoder_hidden: int = 128
    encoder_layers: int = 1
    # GRU decoder over the codes: the previous code, the notes' encoding at this code and the movement vector.
    code_embd: int = 128
    decoder_hidden: int = 256
    decoder_layers: int = 2
    dropout: float = 0.1
    # Codes per training crop and per evaluation window; the prior's block_size, so that both models are
    # scored on the same windows.
    window_codes: int = 64

    def __post_init__(self) -> None:
        _check_common(
            "GRUContentConfig",
            self.dropout,
            self.vocab_size,
            self.note_embd,
            self.encoder_hidden,
            self.encoder_layers,
            self.code_embd,
            self.decoder_hidden,
            self.decoder_layers,
            self.window_codes,
        )


@dataclass(frozen=True)
class GRUContentBundleConfig:
    """Everything needed to rebuild a trained GRU content model: the VQ-VAE it predicts codes of (sizes
    only), the movement encoder (the prior's) and the GRU sizes. Travels in its training checkpoints."""

    model_type: str = "content_gru"
    audio: AudioConfig = field(default_factory=AudioConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    movement: MovementEncoderConfig = field(default_factory=MovementEncoderConfig)
    content_gru: GRUContentConfig = field(default_factory=GRUContentConfig)
    format_version: int = BUNDLE_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.model_type != "content_gru":
            raise ConfigError(f"GRUContentBundleConfig: unknown model_type {self.model_type!r} (content_gru)")
        if self.movement.n_joints != self.skeleton.n_joints:
            raise ConfigError("GRUContentBundleConfig: movement.n_joints != skeleton.n_joints")
        if self.format_version != BUNDLE_FORMAT_VERSION:
            raise ConfigError(
                f"GRUContentBundleConfig: format_version {self.format_version} is not supported "
                f"(this version reads {BUNDLE_FORMAT_VERSION})"
            )

    @property
    def frames_per_code(self) -> int:
        return self.vqvae.downsample
