"""Canonical locations of every artifact, relative to one root (``LOGOS_HOME``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logos.names import child


@dataclass(frozen=True)
class Paths:
    """The file layout of ARCHITECTURE.md under ``root``."""

    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def backtest(self, backtest_id: str) -> Path:
        return child(self.runs, "run id", backtest_id)

    @property
    def live_sessions(self) -> Path:
        return self.runs / "live" / "sessions"

    def live_session(self, session_id: str) -> Path:
        return child(self.live_sessions, "session id", session_id)

    @property
    def latest_session(self) -> Path:
        """Pointer (symlink) to the newest live session."""
        return self.runs / "live" / "latest_session"

    @property
    def ml_runs(self) -> Path:
        return self.runs / "ml"

    def ml_run(self, stamp: str) -> Path:
        return child(self.ml_runs, "ml run", stamp)

    @property
    def promotions(self) -> Path:
        return self.ml_runs / "promotions"

    @property
    def monitoring_status(self) -> Path:
        return self.runs / "monitoring" / "status.json"

    @property
    def brain_proposals(self) -> Path:
        return self.runs / "brain" / "proposals"

    @property
    def portfolio_runs(self) -> Path:
        return self.runs / "portfolio"

    def portfolio_run(self, run_id: str) -> Path:
        return child(self.portfolio_runs, "portfolio run id", run_id)

    @property
    def lessons(self) -> Path:
        return self.runs / "lessons"

    @property
    def data_cache(self) -> Path:
        return self.root / "data" / "cache"

    @property
    def bar_cache(self) -> Path:
        return self.data_cache / "bars"

    @property
    def models(self) -> Path:
        return self.data_cache / "models"

    @property
    def current_model(self) -> Path:
        """Symlink to the champion's run directory."""
        return self.models / "current"

    @property
    def staging_model(self) -> Path:
        """Symlink to the candidate's run directory."""
        return self.models / "staging"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def app_log(self) -> Path:
        return self.logs / "app.log"

    @property
    def live_log(self) -> Path:
        return self.logs / "live.log"

    @property
    def ml_train_log(self) -> Path:
        return self.logs / "ml_train.log"
