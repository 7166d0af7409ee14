"""Per-user directories, following each platform's convention (no extra dependency)."""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path

APP = "realtime"


def user_data_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP


def user_cache_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / APP


def packaged_recipe_path(name: str) -> Path:
    """Where the packaged training recipe ``NAME.toml`` lives (``realtime/recipes``), whether
    or not it exists: ``realtime train --config NAME`` and the panel's add-style read it."""
    return Path(str(importlib.resources.files(APP) / "recipes" / f"{name}.toml"))
