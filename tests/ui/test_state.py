from __future__ import annotations

from pathlib import Path

import pytest

from services.dashboard.state import shown_path


def test_shown_path_when_under_the_home_directory_then_written_from_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert shown_path(tmp_path / "logos") == "~/logos"
    assert shown_path(tmp_path) == "~"


def test_shown_path_when_elsewhere_then_the_whole_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert shown_path(tmp_path / "store") == str(tmp_path / "store")
