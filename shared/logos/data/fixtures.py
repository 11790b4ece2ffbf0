"""Where the bundled deterministic bar fixtures live, and how to find one by name."""

from __future__ import annotations

from pathlib import Path

from logos.data.loading import bar_file_stem
from logos.symbols import SymbolSpec, load_catalog

CATALOG_NAME = "symbols.json"
# The container image copies the repository's data/ to /app/data.
CONTAINER_FIXTURES_DIR = Path("/app/data/fixtures")


def fixtures_dir(override: Path | None = None) -> Path:
    """Return ``override``, else the nearest ``data/fixtures`` above this module, else the image's copy."""
    if override is not None:
        return override
    # Walking up finds the repository's data/fixtures from an editable install or a source checkout.
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "data" / "fixtures"
        if (candidate / CATALOG_NAME).is_file():
            return candidate
    return CONTAINER_FIXTURES_DIR


FIXTURES_DIR = fixtures_dir()


def list_fixtures(directory: Path | None = None) -> list[str]:
    """Return the names (file stems) of the bar files among the fixtures, sorted."""
    return sorted(_bar_files(directory or FIXTURES_DIR))


def fixture_path(name: str, directory: Path | None = None) -> Path:
    """Return the file of the fixture called ``name`` (a stem such as ``crypto_1m``)."""
    root = directory or FIXTURES_DIR
    files = _bar_files(root)
    if name not in files:
        known = ", ".join(sorted(files)) or "none"
        raise KeyError(f"unknown fixture {name!r} in {root} (known: {known})")
    return files[name]


def fixture_catalog(directory: Path | None = None) -> dict[str, SymbolSpec]:
    """Return the symbol specs of every fixture symbol, keyed by symbol."""
    return load_catalog((directory or FIXTURES_DIR) / CATALOG_NAME)


def _bar_files(directory: Path) -> dict[str, Path]:
    """Map each bar file's stem to its path (a missing directory holds none)."""
    if not directory.is_dir():
        return {}
    stems = ((bar_file_stem(path), path) for path in sorted(directory.iterdir()) if path.is_file())
    return {stem: path for stem, path in stems if stem is not None}
