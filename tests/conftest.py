"""Shared fixtures. Area-specific fixtures live in ``fixtures_*.py`` beside this file and are
pulled in here so every test module sees them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures_media import *  # noqa: F403
from fixtures_models import *  # noqa: F403

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    # CI and developers have ../shared beside the checkout; REALTIME_SHARED overrides.
    return Path(os.environ.get("REALTIME_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"shared data not found at {path} (set REALTIME_SHARED to its path)")
    return path


@pytest.fixture(scope="session")
def vgg_weights(shared_dir: Path) -> Path:
    path = shared_dir / "weights" / "vgg16-imagenet-features.pth"
    if not path.is_file():
        pytest.skip(f"VGG-16 weights not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    # Tests must never read or write the developer's own styles or caches.
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("REALTIME_STYLES_DIR", raising=False)
    monkeypatch.delenv("REALTIME_VGG_WEIGHTS", raising=False)
