"""The one list of model types: what each is called, which paper it comes from, whether it plays a MIDI file's
notes, which bundle ships with the app and how to train one.

The generate panel's model list, ``minet-desktop info``, the bundled-model paths and the evaluation's rows
are all read from :data:`MODEL_TYPES`; :data:`~minet_desktop.engine.loading.BACKENDS` maps the same keys to
their loaders (a test checks the two agree). Adding a type is one entry here plus its backend. Torch-free,
so the GUI can read it before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The two papers the app is built on, by their titles.
MINET_PAPER = "Multi-Instrumentalist Net"
REGRESSOR_PAPER = "Visually Indicated Music"


@dataclass(frozen=True)
class ModelType:
    """One kind of model bundle (its ``model_type``)."""

    key: str  # the bundle's config.model_type
    label: str  # what the user reads
    paper: str  # the paper it comes from (title)
    needs_notes: bool  # plays the notes of a MIDI file, and needs one
    has_prior: bool  # samples VQ-VAE codes from a prior: takes and the seed give different audio
    bundled_file: str | None  # its bundle in resources/models/, when one ships with the app
    how_to_train: str  # what to run to make one (shown when none ships)


MODEL_TYPES: tuple[ModelType, ...] = (
    ModelType(
        "minet",
        MINET_PAPER,
        MINET_PAPER,
        needs_notes=False,
        has_prior=True,
        bundled_file="minet.safetensors",
        how_to_train="Train one with `minet-train vqvae` and `minet-train prior` (see the README)",
    ),
    ModelType(
        "minet_midi",
        f"{MINET_PAPER} + MIDI",
        MINET_PAPER,
        needs_notes=True,
        has_prior=True,
        bundled_file="minet_midi.safetensors",
        how_to_train="Train one with `minet-train vqvae` and `minet-train prior --content midi` (see the README)",
    ),
    ModelType(
        "frame_regressor",
        f"Frame regressor ({REGRESSOR_PAPER})",
        REGRESSOR_PAPER,
        needs_notes=False,
        has_prior=False,
        bundled_file="regressor.safetensors",
        how_to_train="Train one with `minet-train regressor --cache CACHE --out RUN` (RUN/model.safetensors)",
    ),
    ModelType(
        "frame_regressor_midi",
        f"Frame regressor + MIDI ({REGRESSOR_PAPER})",
        REGRESSOR_PAPER,
        needs_notes=True,
        has_prior=False,
        bundled_file="regressor_midi.safetensors",
        how_to_train=(
            "Train one with `minet-train regressor --midi --cache CACHE --out RUN` (RUN/model.safetensors)"
        ),
    ),
    ModelType(
        "seq2seq",
        "RNN Seq2Seq",
        MINET_PAPER,
        needs_notes=False,
        has_prior=False,
        bundled_file=None,
        how_to_train="Train one with `minet-train seq2seq --cache CACHE --out RUN` (RUN/model.safetensors)",
    ),
    ModelType(
        "graph_transformer",
        "Graph-Transformer",
        MINET_PAPER,
        needs_notes=False,
        has_prior=False,
        bundled_file=None,
        how_to_train="Train one with `minet-train graph-transformer --cache CACHE --out RUN` (RUN/model.safetensors)",
    ),
)

_BY_KEY = {t.key: t for t in MODEL_TYPES}


def model_type(key: str) -> ModelType | None:
    """The registry entry of ``key``, or None for a type this version does not know."""
    return _BY_KEY.get(key)


def label(key: str) -> str:
    """What the user reads for ``key`` (the key itself for an unknown type)."""
    entry = _BY_KEY.get(key)
    return entry.label if entry is not None else key


def app_model_types() -> tuple[ModelType, ...]:
    """The types the app offers in its model list: those that ship with it."""
    return tuple(t for t in MODEL_TYPES if t.bundled_file is not None)


def has_prior(key: str) -> bool:
    """``key`` samples VQ-VAE codes from a prior (MI Net): it has a test NLL, and takes differ."""
    entry = _BY_KEY.get(key)
    return entry is not None and entry.has_prior
