"""Visually Indicated Music's frame-based spectrogram regressor, and its model bundle.

::

    images (N, T_img, C, S, S) uint8 ──ResNet-18──> (N, T_img, D) ──interpolate in time──> (N, T, D) ─┐
    notes  (N, T) int (MIDI variant) ──piano roll (N, T, 128) ──LSTM 128──> (N, T, 128) ──────────────┤ concat
                                                                   LSTM 512 x 2 ──Linear──> mel (N, 80, T)

``T`` counts mel frames (22.05 kHz, hop 512: ~43 per second); images come at ``image_fps`` (30 in the paper)
and their embeddings are linearly interpolated to the mel frames' times (``positions``: where each mel frame
falls on the image axis, in image frames). The images are stick figures drawn from the keypoints
(:mod:`minet_desktop.features.pose_image`), so training and the app feed the same picture.

ResNet-18 is written out here (torchvision is not a dependency, and the paper's network is small) and trained
from scratch: the usual ImageNet weights would have to be downloaded, and they know photographs, not stick
figures. The output is the per-band mean and standard deviation of the training mels (buffers, set before
training with :meth:`FrameRegressor.set_normalization`) plus what the network predicts in those units: the
loss is still the mean squared error on log-mel (§3.4), but training starts at the average spectrum instead
of at silence.

The bundle is one ``.safetensors`` file like MI Net's (:mod:`minet_desktop.model.bundle`): the module's
``state_dict`` under the prefix ``regressor.``, and the metadata ``format`` "minet-bundle", ``format_version``,
``config`` (:class:`~minet_desktop.model.config.RegressorBundleConfig` as JSON) and ``model_card``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.model.bundle import build_checked, read_tensors, read_typed_config, write_bundle
from minet_desktop.model.config import RegressorBundleConfig, RegressorConfig

PREFIX = "regressor"


class BasicBlock(nn.Module):
    """ResNet's two-convolution residual block: ``(N, c_in, H, W) -> (N, c_out, H / stride, W / stride)``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) without its classifier: ``(N, C, H, W) -> (N, 8 * width)``.

    A 7x7 stride-2 stem and a max-pool, four stages of two :class:`BasicBlock` (``width``, 2x, 4x, 8x channels;
    the last three halve the resolution), global average pooling. ``width`` 64 is the original network.
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages = []
        c = width
        for i, mult in enumerate((1, 2, 4, 8)):
            out = width * mult
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c, out, stride), BasicBlock(out, out)))
            c = out
        self.stages = nn.Sequential(*stages)
        self.out_features = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            # Each residual branch starts as zero, so the untrained network is a stack of identities and
            # trains from scratch more easily (Goyal et al. 2017; torchvision's zero_init_residual).
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))


class MidiEncoder(nn.Module):
    """The MIDI-auxiliary branch: notes ``(N, T)`` (0 rest, pitch + 1) -> piano roll -> LSTM -> ``(N, T, H)``."""

    def __init__(self, n_pitches: int, hidden: int) -> None:
        super().__init__()
        self.n_pitches = n_pitches
        self.lstm = nn.LSTM(n_pitches, hidden, num_layers=1, batch_first=True)

    def piano_roll(self, notes: Tensor) -> Tensor:
        """``(N, T)`` note indices -> ``(N, T, n_pitches)`` one-hot (a rest, or a pitch out of range, is all 0)."""
        idx = notes.long().clamp(0, self.n_pitches + 1)
        return F.one_hot(idx, self.n_pitches + 2)[..., 1 : self.n_pitches + 1].float()

    def forward(self, notes: Tensor) -> Tensor:
        out, _ = self.lstm(self.piano_roll(notes))
        return out


def resample_features(features: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation in time: ``(N, T_img, D)`` at fractional image indices ``(N, T)`` -> ``(N, T, D)``.

    Positions outside ``[0, T_img - 1]`` hold the first or last embedding.
    """
    n_img = features.shape[1]
    pos = positions.to(features.dtype).clamp(0, n_img - 1)
    lo = pos.floor().long().clamp(max=n_img - 1)
    hi = (lo + 1).clamp(max=n_img - 1)
    w = (pos - lo.to(pos.dtype))[..., None]
    D = features.shape[2]
    a = features.gather(1, lo[..., None].expand(-1, -1, D))
    b = features.gather(1, hi[..., None].expand(-1, -1, D))
    return a + (b - a) * w


def image_positions(n_frames: int, frame_rate: float, image_fps: float, start: float = 0.0) -> Tensor:
    """``(n_frames,)`` float64: where mel frames ``0..n_frames-1`` fall on the image axis (in image frames)
    when image 0 lies ``start`` image frames before mel frame 0."""
    return start + torch.arange(n_frames, dtype=torch.float64) * (image_fps / frame_rate)


def images_to_float(images: Tensor) -> Tensor:
    """uint8 drawings -> float "ink": 0 on the background's white, up to 1 on black lines."""
    return (255.0 - images.float()) / 255.0


class FrameRegressor(nn.Module):
    """Stick-figure frames (and notes) -> log-mel spectrogram (Visually Indicated Music §3.3)."""

    mel_mean: Tensor  # buffers, (n_mels,)
    mel_std: Tensor

    def __init__(self, cfg: RegressorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual = ResNet18(cfg.channels, cfg.base_width)
        self.midi_encoder = MidiEncoder(cfg.n_pitches, cfg.midi_hidden) if cfg.midi else None
        fused = cfg.feature_dim + (cfg.midi_hidden if cfg.midi else 0)
        self.decoder = nn.LSTM(
            fused,
            cfg.lstm_hidden,
            num_layers=cfg.lstm_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0,
        )
        self.head = nn.Linear(cfg.lstm_hidden, cfg.n_mels)
        # Per-band statistics of the training mels: the output is mel_mean + mel_std * head(h).
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels))

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-band mean and std ``(n_mels,)`` of the training log-mels (std floored at 0.1 nats)."""
        self.mel_mean.copy_(mean.to(self.mel_mean))
        self.mel_std.copy_(std.to(self.mel_std).clamp_min(0.1))

    def encode_images(self, images: Tensor) -> Tensor:
        """``(N, T_img, C, S, S)`` uint8 (or float ink) -> visual embeddings ``(N, T_img, feature_dim)``."""
        N, T = images.shape[:2]
        x = images.reshape(N * T, *images.shape[2:])
        x = images_to_float(x) if x.dtype == torch.uint8 else x.float()
        return self.visual(x).reshape(N, T, -1)

    def decode(self, visual: Tensor, notes: Tensor | None = None) -> Tensor:
        """Visual embeddings at the mel frames ``(N, T, D)`` (and notes ``(N, T)``) -> log-mel ``(N, n_mels, T)``."""
        x = visual
        if self.midi_encoder is not None:
            if notes is None:
                raise ValueError("the MIDI variant of the regressor needs notes")
            if notes.shape != visual.shape[:2]:
                raise ValueError(
                    f"notes {tuple(notes.shape)} do not match the frames {tuple(visual.shape[:2])}"
                )
            x = torch.cat([x, self.midi_encoder(notes)], dim=-1)
        h, _ = self.decoder(x)
        y = self.head(h) * self.mel_std + self.mel_mean
        return y.transpose(1, 2)

    def forward(self, images: Tensor, positions: Tensor, notes: Tensor | None = None) -> Tensor:
        """Log-mel ``(N, n_mels, T)`` of one window.

        Parameters
        ----------
        images
            ``(N, T_img, C, S, S)`` uint8 stick figures at ``image_fps``.
        positions
            ``(N, T)`` or ``(T,)``: each mel frame's place on the image axis (:func:`image_positions`).
        notes
            ``(N, T)`` note indices at the mel frames (0 rest, pitch + 1); the MIDI variant only.
        """
        feats = self.encode_images(images)
        if positions.dim() == 1:
            positions = positions[None].expand(images.shape[0], -1)
        return self.decode(resample_features(feats, positions), notes)


# --------------------------------------------------------------------------------------------------------
# The bundle


@dataclass
class RegressorBundle:
    """A loaded frame regressor: its config, the module (eval mode) and the model card."""

    cfg: RegressorBundleConfig
    model: FrameRegressor
    model_card: str = ""

    def modules(self) -> dict[str, nn.Module]:
        return {PREFIX: self.model}


def _state(model: FrameRegressor) -> dict[str, Tensor]:
    return {f"{PREFIX}.{k}": v for k, v in model.state_dict().items()}


def save_regressor_bundle(
    path: str | PathLike[str], cfg: RegressorBundleConfig, model: FrameRegressor, model_card: str = ""
) -> Path:
    """Write the bundle atomically (a crash leaves any earlier file at ``path`` untouched); returns ``path``."""
    if model.cfg != cfg.regressor:
        raise ValueError("the module was built with other sizes than the bundle config says")
    return write_bundle(path, _state(model), cfg, model_card)


def read_regressor_config(path: str | PathLike[str]) -> tuple[RegressorBundleConfig, str]:
    """Config and model card of a regressor bundle without loading its weights."""
    return read_typed_config(
        path, RegressorBundleConfig, ("frame_regressor", "frame_regressor_midi"), "a frame regressor bundle"
    )


def load_regressor_bundle(path: str | PathLike[str], device: str | torch.device = "cpu") -> RegressorBundle:
    """Rebuild the regressor from the config and load its weights; refuses any mismatch (InputError)."""
    p = Path(path)
    cfg, card = read_regressor_config(p)
    model = build_checked(p, lambda: FrameRegressor(cfg.regressor))
    tensors = read_tensors(p, _state(model))
    model.load_state_dict({k[len(PREFIX) + 1 :]: v for k, v in tensors.items()}, strict=True)
    model.to(device).eval()
    return RegressorBundle(cfg, model, card)


def describe_regressor(bundle: RegressorBundle) -> str:
    """Model type and parameter counts, as :func:`minet_desktop.model.bundle.describe` for MI Net."""
    m = bundle.model
    counts = {
        "visual": sum(p.numel() for p in m.visual.parameters()),
        "midi_encoder": sum(p.numel() for p in m.midi_encoder.parameters()) if m.midi_encoder else 0,
        "decoder": sum(p.numel() for p in m.decoder.parameters())
        + sum(p.numel() for p in m.head.parameters()),
    }
    return json.dumps({"model_type": bundle.cfg.model_type, "parameters": counts}, indent=2)
