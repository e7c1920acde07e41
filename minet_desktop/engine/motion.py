"""Movement conditioning for performances of any length.

The prior was trained on 4-second crops, each conditioned on one movement vector h: the bi-GRU's final
state over that crop's skeleton. A 60-second performance summarised by a single h would lose its motion
(a GRU's final state remembers the last seconds, and one vector cannot tell the prior when the bow changes
direction at 40 s). So every code gets its own h, computed exactly as in training, over a crop-sized window
of frames around it:

* ``"centered"`` (offline, the default): the window of ``(block_size - 1) * downsample`` frames (the 4 s a
  prior window spans) centred on the code, shifted inwards at the ends of the clip. A clip no longer than
  one window gets one h over the whole clip, exactly what training saw.
* ``"trailing"`` (live): the window ending at the code's last frame, since later frames do not exist yet.
  It is shorter at the start of a performance, until a window of frames has arrived.

With the per-frame motion option of the prior, a code's motion features are the GRU outputs of its own
window at its own frames (averaged over the code's frames, as :func:`~minet_desktop.model.movement.align_to`).
Windows are run through the GRU in batches, so following the motion costs one batched GRU pass per window
position (about n_codes windows), not a Python loop per frame.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.core.skeleton import model_frames
from minet_desktop.model.movement import MovementEncoder

MotionWindow = Literal["centered", "trailing"]


def clip_frames(n_keypoint_frames: int, fps: float, audio: AudioConfig) -> tuple[int, int]:
    """Samples and spectrogram frames of the audio for a clip: ``(n_samples, T = n_samples // hop + 1)``.

    The audio lasts exactly as long as the keypoints (``n_frames / fps`` seconds, rounded to a sample).
    """
    n_samples = int(round(n_keypoint_frames / fps * audio.sample_rate))
    return n_samples, n_samples // audio.hop_length + 1


def skeleton_frames(
    keypoints: np.ndarray, fps: float, audio: AudioConfig, skeleton: SkeletonConfig
) -> tuple[np.ndarray, int]:
    """Keypoints in pixels -> the model's skeleton frames ``(T, 3, 47)`` and the audio length in samples.

    Missing joints are filled, the skeleton normalised and resampled to the spectrogram frame rate exactly as
    the training cache does (:func:`minet_desktop.core.skeleton.model_frames`).
    """
    n_samples, T = clip_frames(keypoints.shape[0], fps, audio)
    frames, _ = model_frames(keypoints, fps, audio.frame_rate, T, skeleton.confidence_threshold)
    return frames, n_samples


def window_frames(block_size: int, downsample: int) -> int:
    """Frames of one movement window: the frames a full prior window spans (252 at the paper's sizes)."""
    return max(1, (block_size - 1) * downsample)


def default_stride(block_size: int, window_keep: int, per_frame_motion: bool) -> int:
    """Codes that share one movement window: 1/8 of a prior window's advance (4 codes = 256 ms at the
    paper's sizes), which divides the GRU's work by that much while h still moves several times per window;
    1 when the prior takes per-frame motion, which must come from each code's own frames."""
    return 1 if per_frame_motion else max(1, (block_size - window_keep) // 8)


def code_windows(
    n_codes: int, n_frames: int, downsample: int, window: int, mode: MotionWindow, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` (n_codes,) int: the frames ``[start, stop)`` whose GRU summary is code i's h.

    Codes ``k*stride .. (k+1)*stride - 1`` share a window: centred on the group (offline) or ending at the
    group's first code (live, which cannot wait for the group's later frames).
    """
    group = (np.arange(n_codes) // stride) * stride
    if mode == "centered":
        length = min(window, n_frames)
        centre2 = (2 * group + stride - 1) * downsample + downsample  # twice the group's centre frame
        starts = np.clip((centre2 - window) // 2, 0, n_frames - length)
        return starts, starts + length
    if mode == "trailing":
        stops = np.clip((group + 1) * downsample, 1, n_frames)
        return np.maximum(stops - window, 0), stops
    raise ValueError(f"unknown motion window {mode!r} (centered, trailing)")


def iter_movement(
    movement: MovementEncoder,
    frames: Tensor,
    n_codes: int,
    downsample: int,
    window: int,
    mode: MotionWindow = "centered",
    with_motion: bool = False,
    stride: int = 1,
    batch_windows: int = 128,
) -> Generator[tuple[int, int], None, tuple[Tensor, Tensor | None]]:
    """Movement vector (and per-frame motion) of every code.

    Parameters
    ----------
    frames
        ``(3, 47, T)`` skeleton frames on the model's device.
    with_motion
        Also return the per-frame motion features (priors with ``per_frame_motion``).
    stride
        Codes sharing one window (:func:`default_stride`).

    Yields ``(windows_done, n_windows)`` after every GRU batch; returns ``h (n_codes, H)`` and
    ``motion (n_codes, H)`` or None.
    """
    T = frames.shape[-1]
    starts, stops = code_windows(n_codes, T, downsample, window, mode, stride)
    pairs = sorted(set(zip(starts.tolist(), stops.tolist(), strict=True)), key=lambda p: (p[1] - p[0], p[0]))
    index = {p: k for k, p in enumerate(pairs)}
    H = movement.cfg.out_features
    h_win = frames.new_empty(len(pairs), H)
    motion_win: list[Tensor | None] = [None] * len(pairs)
    done = 0
    # Windows of equal length run as one batch (a padded batch would change a bidirectional GRU's output).
    k = 0
    while k < len(pairs):
        length = pairs[k][1] - pairs[k][0]
        group = [p for p in pairs[k : k + batch_windows] if p[1] - p[0] == length]
        x = torch.stack([frames[..., a:b] for a, b in group])  # (G, 3, 47, L)
        with torch.no_grad():
            h, per_frame = movement(x)
        h_win[k : k + len(group)] = h
        if with_motion:
            for j in range(len(group)):
                motion_win[k + j] = per_frame[j]
        k += len(group)
        done += len(group)
        yield done, len(pairs)
    rows = torch.as_tensor([index[(a, b)] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)])
    h_codes = h_win[rows.to(h_win.device)]
    if not with_motion:
        return h_codes, None
    motion = frames.new_empty(n_codes, H)
    for i in range(n_codes):
        a, b = int(starts[i]), int(stops[i])
        feats = motion_win[index[(a, b)]]
        assert feats is not None
        # The code's own frames inside its window, the last frame held past the clip's end (as align_to).
        idx = np.clip(np.arange(i * downsample, (i + 1) * downsample) - a, 0, b - a - 1)
        motion[i] = feats[torch.as_tensor(idx, device=feats.device)].mean(0)
    return h_codes, motion
