"""Names that become directories: one check for run ids, session ids and model runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from logos.names import UnsafeName, check_name, child
from logos.paths import Paths
from services.executor.config import ExecutorSettings


@pytest.mark.parametrize("name", ["20240101_000000_sma_cross_BTC-USD", "a", "run.2", "A-b_c.d", "x" * 128])
def test_check_name_when_safe_then_returned(name: str) -> None:
    assert check_name("run id", name) == name


@pytest.mark.parametrize(
    "name", ["", "..", ".", "../x", "/etc", "a/b", "a\\b", "a b", "a;b", "-rf", ".hidden", "x" * 129, "é", "a\nb"]
)
def test_check_name_when_unsafe_then_refused_with_the_rule(name: str) -> None:
    with pytest.raises(UnsafeName, match="is not a safe name: use 1-128 letters"):
        check_name("run id", name)


def test_child_when_a_symlink_inside_the_root_leads_out_then_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "runs", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)

    with pytest.raises(UnsafeName, match="leads outside"):
        child(root, "run id", "link")
    assert child(root, "run id", "fine") == root / "fine"


def test_paths_when_ids_become_directories_then_every_kind_is_checked(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    for method in (paths.backtest, paths.live_session, paths.ml_run, paths.portfolio_run):
        with pytest.raises(UnsafeName):
            method("../../etc")
    assert paths.live_session("s1") == tmp_path / "runs" / "live" / "sessions" / "s1"


def test_executor_settings_when_session_id_is_unsafe_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR_SESSION_ID", "../../etc")
    with pytest.raises(ValueError, match=r"session id '\.\./\.\./etc' is not a safe name"):
        ExecutorSettings()
