"""The model bundle: one self-describing ``.safetensors`` file holding a whole trained MI Net.

Layout: the tensors of the VQ-VAE, the movement encoder and the prior, prefixed ``vqvae.``, ``movement.`` and
``prior.`` (their ``state_dict`` keys, buffers included: the EMA codebook and the spectrogram statistics), the
instrument prototypes prefixed ``instruments.`` when the config has them (``BundleConfig.instruments``), the
onset detector prefixed ``onsets.`` when it has one (``BundleConfig.onsets``), and string metadata::

    format          "minet-bundle"
    format_version  "1"
    config          BundleConfig as JSON (minet_desktop.core.config.to_json)
    model_card      markdown: what it was trained on, how well it did

Loading never executes code (safetensors + JSON, no pickle) and refuses, with an
:class:`~minet_desktop.core.errors.InputError` naming the file, anything that is not exactly a bundle this
version can rebuild: an unknown format version, unknown config keys, a missing or unexpected tensor, or a
tensor whose shape or dtype differs from what the config builds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.config import from_json, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.core.validation import check_allocation
from minet_desktop.model.config import BUNDLE_FORMAT_VERSION, BundleConfig
from minet_desktop.model.instruments import InstrumentPrototypes
from minet_desktop.model.movement import MovementEncoder
from minet_desktop.model.onsets import OnsetDetector
from minet_desktop.model.prior import Prior, build_prior
from minet_desktop.model.vqvae import VQVAE

C = TypeVar("C")
M = TypeVar("M")

FORMAT = "minet-bundle"
PARTS = ("vqvae", "movement", "prior")


@dataclass
class Bundle:
    """A loaded model: its config, the three modules (in eval mode), the model card, and the instrument
    prototypes and the onset detector when the bundle has them."""

    cfg: BundleConfig
    vqvae: VQVAE
    movement: MovementEncoder
    prior: Prior
    model_card: str = ""
    instruments: InstrumentPrototypes | None = None
    onsets: OnsetDetector | None = None

    def modules(self) -> dict[str, nn.Module]:
        parts: dict[str, nn.Module] = {"vqvae": self.vqvae, "movement": self.movement, "prior": self.prior}
        if self.instruments is not None:
            parts["instruments"] = self.instruments
        if self.onsets is not None:
            parts["onsets"] = self.onsets
        return parts


def build_modules(cfg: BundleConfig) -> tuple[VQVAE, MovementEncoder, Prior]:
    """Fresh (untrained) modules of the sizes ``cfg`` describes."""
    vqvae = VQVAE(cfg.vqvae)
    movement = MovementEncoder(cfg.movement)
    prior = build_prior(
        cfg.prior, cfg.vqvae.codebook_size, cfg.movement.out_features, cfg.content, cfg.frames_per_code
    )
    return vqvae, movement, prior


class _ShapesOnly(TorchFunctionMode):
    """Inside ``torch.device("meta")``: random factories give empty meta tensors and in-place initialisers
    (``normal_``, ``uniform_``, ``fill_``...) of meta tensors do nothing.

    Only the shapes matter for the size, and PyTorch's meta versions of those operations are Python
    references that import torch's compiler stack (sympy), which the packaged app leaves out.
    """

    _FACTORIES = (torch.randn, torch.rand, torch.randint, torch.randperm, torch.normal)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in self._FACTORIES:
            if func is torch.randperm:
                return torch.empty(args[0], dtype=torch.int64)
            sizes = [a for a in args if isinstance(a, int | tuple | list | torch.Size)]
            size = kwargs.get("size", sizes[-1] if sizes and not isinstance(sizes[-1], int) else sizes)
            return torch.empty(size, dtype=kwargs.get("dtype"))
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor", kwargs.get("input"))  # nn.init passes keywords
        if name.endswith("_") and not name.endswith("__") and isinstance(target, Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


def check_model_size(
    path: str | PathLike[str] | None, build: Callable[[], object], what: str = "bundle"
) -> None:
    """Refuse a config whose modules would not fit in memory, before anything is allocated.

    The config comes from a file (a bundle, a recipe): a 65,536-wide prior must be refused, not allocated. So
    the modules are built on the ``meta`` device, which allocates nothing (:class:`_ShapesOnly` skips their
    random initialisation), and their declared bytes (twice: the modules and the tensors read into or trained
    with them) checked against the memory budget; a config no module can be built from is an InputError
    naming the file.
    """
    try:
        with torch.device("meta"), _ShapesOnly():
            meta = build()
    except ImportError:
        # A meta operation that imports torch's compiler stack, which the packaged app leaves out (torch.eye
        # in the Graph-Transformer): the size is then checked as the real modules are built (build_checked).
        return
    except (ValueError, TypeError, RuntimeError, AssertionError, ConfigError) as exc:
        raise InputError(
            path, f"{what} config does not describe a model this version can build ({exc})"
        ) from None
    modules = meta if isinstance(meta, tuple) else (meta,)
    nbytes = sum(t.numel() * t.element_size() for m in modules for t in (*m.parameters(), *m.buffers()))
    check_allocation(path, 2 * nbytes, "the model its config describes")


def build_checked(path: Path, build: Callable[[], M]) -> M:
    """``build()`` (a module or a tuple of modules, from a bundle's config) once :func:`check_model_size`
    has found that it fits."""
    check_model_size(path, build)
    try:
        return build()
    except (MemoryError, RuntimeError) as exc:  # where the size could not be checked before (see above)
        if isinstance(exc, RuntimeError) and "allocate" not in str(exc):
            raise
        raise InputError(
            path, "the model its config describes does not fit in this computer's memory"
        ) from None


def _state(modules: dict[str, nn.Module]) -> dict[str, Tensor]:
    return {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}


def save_bundle(
    path: str | PathLike[str],
    cfg: BundleConfig,
    vqvae: VQVAE,
    movement: MovementEncoder,
    prior: Prior,
    model_card: str = "",
    instruments: InstrumentPrototypes | None = None,
    onsets: OnsetDetector | None = None,
) -> Path:
    """Write the bundle atomically (a crash leaves any earlier file at ``path`` untouched); returns ``path``.

    ``instruments`` must be given exactly when ``cfg.instruments`` is set (and built from it), ``onsets`` exactly
    when ``cfg.onsets`` is.
    """
    if (instruments is None) != (cfg.instruments is None) or (
        instruments is not None and instruments.cfg != cfg.instruments
    ):
        raise ValueError("save_bundle: the instrument prototypes and cfg.instruments disagree")
    if (onsets is None) != (cfg.onsets is None) or (onsets is not None and onsets.cfg != cfg.onsets):
        raise ValueError("save_bundle: the onset detector and cfg.onsets disagree")
    parts: dict[str, nn.Module] = {"vqvae": vqvae, "movement": movement, "prior": prior}
    if instruments is not None:
        parts["instruments"] = instruments
    if onsets is not None:
        parts["onsets"] = onsets
    return write_bundle(path, _state(parts), cfg, model_card)


def write_bundle(path: str | PathLike[str], state: dict[str, Tensor], cfg: Any, model_card: str = "") -> Path:
    """Any model type's bundle: ``state`` as safetensors, ``cfg`` (a config dataclass) as JSON and the model card
    in the metadata, written atomically; returns ``path``."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    metadata = {
        "format": FORMAT,
        "format_version": str(BUNDLE_FORMAT_VERSION),
        "config": to_json(cfg),
        "model_card": model_card,
    }
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return target


def _read_metadata(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(path, "no such model bundle")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
    except Exception as exc:  # safetensors raises its own error type, or OSError / ValueError on junk
        raise InputError(path, f"not a safetensors model bundle ({exc})") from exc
    if not metadata or metadata.get("format") != FORMAT:
        raise InputError(path, f"not an MI Net model bundle (no '{FORMAT}' format in its metadata)")
    version = metadata.get("format_version")
    if version != str(BUNDLE_FORMAT_VERSION):
        raise InputError(
            path,
            f"bundle format version {version!r} is not supported (this version reads {BUNDLE_FORMAT_VERSION})",
        )
    if "config" not in metadata:
        raise InputError(path, "bundle metadata has no 'config'")
    return metadata


def read_typed_config(
    path: str | PathLike[str], cls: type[C], model_types: Iterable[str], what: str
) -> tuple[C, str]:
    """Config (a ``cls``) and model card of a bundle of one of ``model_types`` without loading its weights;
    InputError naming the file when it is not a bundle, or ``what`` it should be."""
    p = Path(path)
    metadata = _read_metadata(p)
    try:
        model_type = json.loads(metadata["config"]).get("model_type")
    except (ValueError, AttributeError) as exc:
        raise InputError(p, f"bundle config is not valid JSON ({exc})") from exc
    if model_type not in set(model_types):
        raise InputError(p, f"not {what} (its model type is {model_type!r})")
    try:
        cfg = from_json(cls, metadata["config"])
    except ConfigError as exc:
        raise InputError(p, f"bundle config is not usable: {exc}") from exc
    return cfg, metadata.get("model_card", "")


def read_bundle_config(path: str | PathLike[str]) -> tuple[BundleConfig, str]:
    """Config and model card of a bundle without loading its weights (for ``minet-desktop info``)."""
    p = Path(path)
    metadata = _read_metadata(p)
    try:
        cfg = from_json(BundleConfig, metadata["config"])
    except ConfigError as exc:
        raise InputError(p, f"bundle config is not usable: {exc}") from exc
    return cfg, metadata.get("model_card", "")


def _shape(t: tuple[int, ...] | torch.Size) -> str:
    return "(" + ", ".join(str(int(s)) for s in t) + ")"


def read_tensors(path: Path, expected: dict[str, Tensor]) -> dict[str, Tensor]:
    """The tensors of the bundle at ``path``, checked against ``expected`` (name -> a tensor of the config's
    shape and dtype): exactly the same names, shapes and dtypes, or an InputError naming the first mismatch."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        names = set(f.keys())
        missing, unexpected = sorted(set(expected) - names), sorted(names - set(expected))
        if missing:
            raise InputError(
                path,
                f"bundle lacks tensor(s) {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
            )
        if unexpected:
            raise InputError(
                path,
                f"bundle has unexpected tensor(s) {', '.join(unexpected[:5])}"
                + (" ..." if len(unexpected) > 5 else ""),
            )
        tensors: dict[str, Tensor] = {}
        for name in sorted(names):
            sl = f.get_slice(name)
            shape, want = tuple(sl.get_shape()), expected[name]
            if shape != tuple(want.shape):
                raise InputError(
                    path,
                    f"tensor {name} has shape {_shape(shape)} but the config builds {_shape(want.shape)}",
                )
            t = f.get_tensor(name)
            if t.dtype != want.dtype:
                raise InputError(
                    path, f"tensor {name} has dtype {t.dtype} but the model expects {want.dtype}"
                )
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise InputError(
                    path,
                    f"tensor {name} holds NaN or infinite values: the weights are broken (training diverged?)",
                )
            tensors[name] = t
    return tensors


def load_bundle(path: str | PathLike[str], device: str | torch.device = "cpu") -> Bundle:
    """Rebuild the modules from the config and load the weights; refuses any mismatch (InputError)."""
    p = Path(path)
    cfg, card = read_bundle_config(p)
    vqvae, movement, prior = build_checked(p, lambda: build_modules(cfg))
    modules: dict[str, nn.Module] = {"vqvae": vqvae, "movement": movement, "prior": prior}
    instruments = None
    if cfg.instruments is not None:
        instruments = InstrumentPrototypes(cfg.instruments, cfg.movement.out_features)
        modules["instruments"] = instruments
    onsets = None
    if cfg.onsets is not None:
        onsets_cfg = cfg.onsets
        onsets = build_checked(p, lambda: OnsetDetector(onsets_cfg))
        modules["onsets"] = onsets
    tensors = read_tensors(p, _state(modules))
    for part, module in modules.items():
        prefix = part + "."
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True
        )
        module.to(device).eval()
    return Bundle(cfg, vqvae, movement, prior, card, instruments, onsets)


def describe(bundle: Bundle) -> str:
    """One-paragraph summary for ``minet-desktop info``: type, sizes and parameter counts."""
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in bundle.modules().items()}
    return json.dumps({"model_type": bundle.cfg.model_type, "parameters": counts}, indent=2)
