"""The one config: JSON round trips, strictness, and mismatch reports that name the field."""

import json

import pytest

from minet_desktop.core.config import (
    AudioConfig,
    CacheConfig,
    MelConfig,
    SkeletonConfig,
    describe_mismatch,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from minet_desktop.core.errors import ConfigError


@pytest.mark.parametrize("cfg", [AudioConfig(), MelConfig(), SkeletonConfig(), CacheConfig()])
def test_json_round_trip_is_exact(cfg):
    assert from_json(type(cfg), to_json(cfg)) == cfg


def test_paper_defaults():
    a = AudioConfig()
    assert (a.sample_rate, a.n_bins, a.hop_length) == (16_000, 1024, 256)
    assert a.frame_rate == 62.5
    m = MelConfig()
    assert (m.sample_rate, m.n_fft, m.hop_length, m.n_mels) == (22_050, 1024, 512, 80)


def test_nested_round_trip_keeps_changed_values():
    cfg = CacheConfig(audio=AudioConfig(hop_length=128), crop_seconds=2.0)
    back = from_dict(CacheConfig, json.loads(to_json(cfg)))
    assert back.audio.hop_length == 128 and back.crop_seconds == 2.0
    assert back.mel == MelConfig()


def test_unknown_key_is_an_error_naming_it():
    data = to_dict(CacheConfig())
    data["audio"]["hop_size"] = 256
    with pytest.raises(ConfigError, match="hop_size"):
        from_dict(CacheConfig, data)


def test_wrong_type_is_an_error_naming_the_field():
    with pytest.raises(ConfigError, match="AudioConfig.sample_rate"):
        from_dict(AudioConfig, {"sample_rate": "16k"})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(AudioConfig, {"hop_length": 256.5})


def test_missing_keys_take_defaults_and_ints_widen_to_float():
    cfg = from_dict(MelConfig, {"f_max": 8000})
    assert cfg.f_max == 8000.0 and isinstance(cfg.f_max, float)
    assert cfg.n_mels == 80


def test_invalid_values_are_refused():
    with pytest.raises(ConfigError):
        AudioConfig(n_bins=2000)
    with pytest.raises(ConfigError):
        CacheConfig(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError):
        MelConfig(f_max=20_000.0)


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        AudioConfig().hop_length = 3  # type: ignore[misc]


def test_mismatch_report_names_nested_fields():
    diff = describe_mismatch(CacheConfig(), CacheConfig(audio=AudioConfig(hop_length=512)))
    assert diff == ["audio.hop_length: expected 256, found 512"]


def test_bad_json_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        from_json(AudioConfig, "{sample_rate: 1")


def test_atomic_write_replaces_whole_files_with_normal_permissions(tmp_path):
    import os
    import stat

    from minet_desktop.core.atomic import atomic_path, atomic_write_text

    target = tmp_path / "out.wav"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
