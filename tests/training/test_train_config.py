"""Training recipes: the bundled TOML files map onto the model dataclasses, typos are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.config import BundleConfig, PriorConfig, VQVAEConfig
from training.train.config import RECIPES_DIR, TrainConfig, load_recipe, resolve_precision, with_overrides

TINY = RECIPES_DIR / "tiny.toml"


def test_bundled_recipes_load_and_build_valid_bundle_configs():
    names = sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))
    assert {"tiny", "cpu_small", "default", "paper"} <= set(names)
    for name in names:
        recipe = load_recipe(RECIPES_DIR / f"{name}.toml")
        assert isinstance(recipe.model.bundle_config(), BundleConfig)
        midi = recipe.model.bundle_config(content=True)
        assert midi.model_type == "minet_midi" and midi.content is not None
    paper = load_recipe("paper").model.bundle_config()
    assert paper.vqvae == VQVAEConfig() and paper.prior == PriorConfig() and paper == BundleConfig()


def test_stage_tables_override_the_shared_train_table():
    recipe = load_recipe("cpu_small")
    assert recipe.train("vqvae").lr == 1e-3 and recipe.train("prior").lr == 5e-4
    assert recipe.train("vqvae").batch_size == recipe.train("prior").batch_size == 16
    assert with_overrides(recipe.train("vqvae"), max_steps=7, seed=None).max_steps == 7


@pytest.mark.parametrize(
    ("table", "line", "named"),
    [
        ("[model.vqvae]", "chanels = 3", "chanels"),
        ("[train]", "batchsize = 3", "batchsize"),
        ("[stage.prior]", "learning_rate = 0.1", "stage.prior: unknown key(s) learning_rate"),
        ("[optimizer]", "lr = 1", "optimizer"),
    ],
)
def test_an_unknown_key_is_refused_naming_it(tmp_path: Path, table: str, line: str, named: str):
    p = tmp_path / "r.toml"
    p.write_text(f"{table}\n{line}\n")
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")) as err:
        load_recipe(p)
    assert str(p) in str(err.value)


def test_broken_toml_and_missing_recipe_name_the_file(tmp_path: Path):
    p = tmp_path / "bad.toml"
    p.write_text("[train\nlr = ")
    with pytest.raises(InputError, match="bad.toml: not a valid TOML recipe"):
        load_recipe(p)
    with pytest.raises(InputError, match="nope"):
        load_recipe(tmp_path / "nope.toml")


def test_precision_is_mixed_only_on_cuda():
    assert resolve_precision(TrainConfig(), "cpu") == "32-true"
    assert resolve_precision(TrainConfig(precision="bf16-mixed"), "cpu") == "bf16-mixed"


def test_the_default_recipe_conditions_the_prior_on_per_frame_motion():
    import torch

    from minet_desktop.model.prior import build_prior

    recipe = load_recipe("default")
    for content in (False, True):
        assert recipe.model.bundle_config(content=content).prior.per_frame_motion
    # A prior with the recipe's conditioning (tiny sizes) hears the motion at each code, not only h.
    cfg = BundleConfig.tiny(per_frame_motion=recipe.model.bundle_config().prior.per_frame_motion)
    torch.manual_seed(0)
    prior = build_prior(cfg.prior, cfg.vqvae.codebook_size, cfg.movement.out_features).eval()
    H, T = cfg.movement.out_features, 8
    codes, h, motion = (
        torch.randint(0, cfg.vqvae.codebook_size, (1, T)),
        torch.randn(1, H),
        torch.randn(1, T, H),
    )
    still = motion.clone()
    still[:, 4:] = motion[:, 3:4]  # the performer stops moving at code 4
    a, _ = prior(codes, h, motion=motion)
    b, _ = prior(codes, h, motion=still)
    assert torch.allclose(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4:], b[:, 4:])
