"""What the app remembers between runs (QSettings), behind small typed helpers.

The settings live in an INI file in the user's config folder (``~/.config/MINet/MI Net Desktop.ini`` on
Linux). Tests point that folder at ``tmp_path`` with ``QSettings.setPath``; nothing here caches a
``QSettings`` object, so every call sees the redirected location.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "MINet"
APPLICATION = "MI Net Desktop"
MAX_RECENT_FILES = 8

KEY_RECENT = "files/recent"
KEY_LAST_DIR = "files/last_directory"
KEY_SHOW_KEYPOINTS = "view/show_keypoints"
KEY_GEOMETRY = "window/geometry"
KEY_WINDOW_STATE = "window/state"
KEY_MODEL = "model/path"
KEY_TAKES = "generate/takes"
KEY_TEMPERATURE = "generate/temperature"
KEY_SEED = "generate/seed"
KEY_RANDOM_SEED = "generate/random_seed"
KEY_COLORMAP = "inspector/colormap"
KEY_LOG_FREQUENCY = "inspector/log_frequency"
KEY_CAMERA = "live/camera"
KEY_EXPORT_DIR = "files/export_directory"


def open_settings() -> QSettings:
    """The app's settings store (INI format, per user)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _as_str_list(value: object) -> list[str]:
    # An INI file gives a one-element list back as a plain string, and an empty list as None.
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Iterable):
        return [str(v) for v in value if str(v)]
    return []


def updated_recent(recent: list[str], path: str, limit: int = MAX_RECENT_FILES) -> list[str]:
    """``recent`` with ``path`` moved (or added) to the front, without duplicates, at most ``limit`` long."""
    resolved = str(Path(path).resolve())
    rest = [p for p in recent if str(Path(p).resolve()) != resolved]
    return [resolved, *rest][:limit]


def existing_only(paths: list[str]) -> list[str]:
    """``paths`` without the files that no longer exist (moved or deleted since they were opened)."""
    return [p for p in paths if Path(p).is_file()]


def recent_files(settings: QSettings) -> list[str]:
    """Recently opened files, newest first, pruning (and forgetting) the ones that have gone missing."""
    stored = _as_str_list(settings.value(KEY_RECENT))
    kept = existing_only(stored)[:MAX_RECENT_FILES]
    if kept != stored:
        settings.setValue(KEY_RECENT, kept)
    return kept


def add_recent_file(settings: QSettings, path: str) -> list[str]:
    """Record ``path`` as the most recently opened file; returns the new list."""
    new = updated_recent(recent_files(settings), path)
    settings.setValue(KEY_RECENT, new)
    return new


def clear_recent_files(settings: QSettings) -> None:
    settings.setValue(KEY_RECENT, [])


def last_directory(settings: QSettings) -> str:
    """Folder the Open dialog starts in: where the user last opened something, else their home folder."""
    value = settings.value(KEY_LAST_DIR)
    if isinstance(value, str) and value and Path(value).is_dir():
        return value
    return str(Path.home())


def set_last_directory(settings: QSettings, folder: str | Path) -> None:
    settings.setValue(KEY_LAST_DIR, str(folder))


def show_keypoints(settings: QSettings) -> bool:
    """Whether the keypoint overlay is on (default: on)."""
    value = settings.value(KEY_SHOW_KEYPOINTS, True)
    if isinstance(value, str):  # INI files store booleans as "true"/"false"
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def set_show_keypoints(settings: QSettings, on: bool) -> None:
    settings.setValue(KEY_SHOW_KEYPOINTS, bool(on))


def window_geometry(settings: QSettings) -> QByteArray | None:
    value = settings.value(KEY_GEOMETRY)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def set_window_geometry(settings: QSettings, geometry: QByteArray) -> None:
    settings.setValue(KEY_GEOMETRY, geometry)


def get_bool(settings: QSettings, key: str, default: bool) -> bool:
    value = settings.value(key, default)
    if isinstance(value, str):  # INI files store booleans as "true"/"false"
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def get_int(
    settings: QSettings, key: str, default: int, low: int | None = None, high: int | None = None
) -> int:
    """An integer setting, ``default`` when missing or unparsable, clamped to ``[low, high]``."""
    try:
        value = int(settings.value(key, default))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = default
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def get_float(settings: QSettings, key: str, default: float) -> float:
    try:
        value = float(settings.value(key, default))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return value if value == value else default  # NaN -> default


def get_str(settings: QSettings, key: str, default: str = "") -> str:
    value = settings.value(key, default)
    return value if isinstance(value, str) else default


def restore_generate_options(settings: QSettings, panel: Any) -> None:
    """Takes, temperature and seed of the generate panel as the user left them."""
    panel.takes_spin.setValue(get_int(settings, KEY_TAKES, 1, 1, 8))
    panel.temperature_spin.setValue(get_float(settings, KEY_TEMPERATURE, 1.0))
    panel.seed_spin.setValue(get_int(settings, KEY_SEED, 0, 0, 2**31 - 1))
    panel.random_seed.setChecked(get_bool(settings, KEY_RANDOM_SEED, False))
    panel.seed_spin.setEnabled(not panel.random_seed.isChecked())


def save_generate_options(settings: QSettings, panel: Any) -> None:
    settings.setValue(KEY_TAKES, panel.options().takes)
    settings.setValue(KEY_TEMPERATURE, float(panel.temperature_spin.value()))
    settings.setValue(KEY_SEED, panel.seed_spin.value())
    settings.setValue(KEY_RANDOM_SEED, panel.random_seed.isChecked())


def restore_inspector(settings: QSettings, inspector: Any) -> None:
    inspector.set_colormap(get_str(settings, KEY_COLORMAP, "inferno"))
    inspector.set_log_frequency(get_bool(settings, KEY_LOG_FREQUENCY, False))


def save_inspector(settings: QSettings, inspector: Any) -> None:
    settings.setValue(KEY_COLORMAP, inspector.colormap)
    settings.setValue(KEY_LOG_FREQUENCY, inspector.log_frequency)
