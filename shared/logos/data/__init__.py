"""Bar data: loading and validating bar files, and the bundled deterministic fixtures."""

from logos.data.fixtures import FIXTURES_DIR, fixture_catalog, fixture_path, fixtures_dir, list_fixtures
from logos.data.loading import BAR_COLUMNS, BarDataError, bar_file_stem, bar_interval, load_bars

__all__ = [
    "BAR_COLUMNS",
    "FIXTURES_DIR",
    "BarDataError",
    "bar_file_stem",
    "bar_interval",
    "fixture_catalog",
    "fixture_path",
    "fixtures_dir",
    "list_fixtures",
    "load_bars",
]
