"""The secrets directory: generated once, owner-only, never overwritten, and a clear refusal when missing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from logos.names import UnsafeName
from logos.secrets import CONTROL_KEY, ORDERS_KEY, SecretMissing, SecretStore, redis_password_name
from logos.settings import LogosSettings


def test_ensure_when_run_twice_then_creates_once_owner_only_and_keeps_values(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    names = [ORDERS_KEY, CONTROL_KEY, redis_password_name("risk")]
    assert store.ensure(names) == names
    values = {name: store.get(name) for name in names}
    assert all(value and len(value) == 64 for value in values.values())
    assert len(set(values.values())) == 3
    assert store.ensure(names) == []
    assert {name: store.get(name) for name in names} == values
    for name in names:
        assert stat.S_IMODE(store.path(name).stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


def test_ensure_when_a_file_is_empty_then_it_is_filled(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.path(ORDERS_KEY).write_text("\n")
    assert store.get(ORDERS_KEY) is None
    assert store.ensure([ORDERS_KEY]) == [ORDERS_KEY]
    assert store.get(ORDERS_KEY)


def test_require_when_missing_then_names_the_file_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(SecretMissing, match=r"risk needs the secret .*orders-key.*logos secrets init"):
        SecretStore(tmp_path).require(ORDERS_KEY, "risk")


def test_secret_name_when_it_escapes_then_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeName):
        SecretStore(tmp_path).get("../etc/passwd")


def test_settings_when_no_directory_set_then_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGOS_HOME", str(tmp_path))
    monkeypatch.delenv("LOGOS_SECRETS_DIR", raising=False)
    assert LogosSettings().secrets.directory == tmp_path / ".logos" / "secrets"
    monkeypatch.setenv("LOGOS_SECRETS_DIR", "/run/secrets")
    assert LogosSettings().secrets.directory == Path("/run/secrets")
