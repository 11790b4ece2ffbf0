"""The Redis ACL policy as a table, its file, the credentials each process connects with, and `logos secrets`."""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import pytest

from logos.bus.acl import policy, render_acl_file
from logos.bus.credentials import url_has_credentials, url_with_credentials
from logos.secrets import REDIS_USERS, SecretStore, redis_password_name, stack_secret_names
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.cli import run

NAMES = StreamNames(prefix="logos", shards=2)
WORKERS = {"feed", "ml", "risk", "executor", "brain"}


def writers_of(stream: str) -> set[str]:
    return {user for user, rules in policy(NAMES).items() if stream in rules.appends}


def test_policy_when_read_as_a_table_then_every_stream_has_only_its_producers() -> None:
    assert writers_of("logos:orders") == {"risk"}
    assert writers_of("logos:control") == {"risk", "cli"}
    assert writers_of("logos:bars:0") == writers_of("logos:bars:1") == {"feed"}
    assert writers_of("logos:intents:0") == writers_of("logos:intents:1") == {"ml"}
    assert writers_of("logos:signals") == {"ml"}
    assert writers_of("logos:fills") == writers_of("logos:account") == {"executor"}
    assert writers_of("logos:status") == writers_of("logos:dlq") == WORKERS


def test_policy_when_read_as_a_table_then_consumers_groups_and_readers_match_the_services() -> None:
    table = policy(NAMES)
    assert set(table) == set(REDIS_USERS)
    assert table["ml"].consumes == ("logos:bars:0", "logos:bars:1", "logos:account")
    assert table["executor"].consumes == ("logos:orders", "logos:bars:0", "logos:bars:1", "logos:control")
    assert set(table["risk"].consumes) == {*NAMES.all_bars(), *NAMES.all_intents(), NAMES.fills, NAMES.account,
                                            NAMES.control}  # fmt: skip
    assert table["dashboard"].appends == table["dashboard"].consumes == ()
    assert table["cli"].appends == ("logos:control",) and table["cli"].consumes == ()
    assert all(set(rules.reads) == set(NAMES.all()) for rules in table.values())
    assert {user for user, rules in table.items() if rules.session_writes} == WORKERS
    assert {user for user, rules in table.items() if rules.dead_letters} == WORKERS


def test_render_when_written_then_default_off_hashes_only_and_xadd_only_in_the_append_selector() -> None:
    passwords = {user: f"password-of-{user}" for user in REDIS_USERS}
    text = render_acl_file(NAMES, passwords)
    lines = text.splitlines()
    assert lines[0] == "user default off resetchannels ~* &* +@all"  # off: no login; its rights replay the AOF
    assert [line.split()[1] for line in lines[1:]] == list(REDIS_USERS)
    assert "password-of" not in text and ">" not in text
    for user in REDIS_USERS:
        assert f"#{hashlib.sha256(passwords[user].encode()).hexdigest()}" in text
    ml = lines[1 + REDIS_USERS.index("ml")]
    root, _, selectors = ml.partition("(")
    assert "+xadd" not in root and "~logos:bars:0" in root  # a consumer of bars cannot append to them
    (append,) = [part for part in selectors.split("(") if "+xadd" in part]
    assert append.split()[2:] == ["~logos:intents:0", "~logos:intents:1", "~logos:signals", "~logos:status",
                                  "~logos:dlq)"]  # fmt: skip
    assert "user admin" not in text
    assert render_acl_file(NAMES, passwords, admin_password="root").splitlines()[-1].endswith("~* &* +@all")


@pytest.mark.parametrize("prefix", ["a(b", "a*", "a)b", "x?", "[x]"])
def test_render_when_the_prefix_is_not_plain_then_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="cannot be written into a Redis ACL file"):
        render_acl_file(StreamNames(prefix=prefix), dict.fromkeys(REDIS_USERS, "x"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6380/0", "redis://ml:p%2Fw@127.0.0.1:6380/0"),
        ("rediss://host:6390/2", "rediss://ml:p%2Fw@host:6390/2"),
        ("unix:///run/redis.sock?db=1", "unix://ml:p%2Fw@/run/redis.sock?db=1"),
        ("redis://:given@host/0", "redis://:given@host/0"),
        ("redis://host/0?password=given", "redis://host/0?password=given"),
        ("redis://operator@host/0", "redis://operator@host/0"),
    ],
)
def test_credentials_when_the_url_has_none_then_the_users_are_added_else_the_url_wins(url: str, expected: str) -> None:
    assert url_with_credentials(url, "ml", "p/w") == expected
    assert url_with_credentials(url, "ml", None) == url
    assert url_has_credentials(expected)


def test_redis_url_for_when_the_secret_exists_then_the_service_connects_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGOS_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("LOGOS_REDIS_URL", "redis://127.0.0.1:6380/0")
    settings = LogosSettings()
    assert settings.redis_url_for("risk") == "redis://127.0.0.1:6380/0"  # no secret: no credentials, as before
    settings.secrets.ensure([redis_password_name("risk")])
    password = settings.secrets.get(redis_password_name("risk"))
    assert settings.redis_url_for("risk") == f"redis://risk:{password}@127.0.0.1:6380/0"
    monkeypatch.setenv("LOGOS_REDIS_URL", "redis://:mine@127.0.0.1:6380/0")
    assert LogosSettings().redis_url_for("risk") == "redis://:mine@127.0.0.1:6380/0"


def test_secrets_init_when_run_twice_then_creates_each_once_and_never_prints_a_value(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SecretStore(isolated_home / ".logos" / "secrets")
    shutil.rmtree(store.directory, ignore_errors=True)  # a stack that has none yet
    assert run(["secrets", "init"]) == 0
    first = capsys.readouterr().out
    assert [line.removeprefix("created ") for line in first.splitlines()[:-1]] == [
        str(store.path(name)) for name in stack_secret_names()
    ]
    assert f"{len(stack_secret_names())} created, 0 already there" in first
    assert not any(value and value in first for value in (store.get(name) for name in stack_secret_names()))
    assert run(["secrets", "init", "--admin", "--containers"]) == 0
    second = capsys.readouterr().out
    assert second.splitlines()[0] == f"created {store.path('redis-admin')}"
    assert stat.S_IMODE(store.path("orders-key").stat().st_mode) == 0o644
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


def test_secrets_redis_acl_when_a_password_is_missing_then_one_line_and_exit_2(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "acl" / "users.acl"
    shutil.rmtree(isolated_home / ".logos" / "secrets", ignore_errors=True)
    assert run(["secrets", "redis-acl", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "redis-feed" in error and "logos secrets init" in error
    assert not out.exists()
    assert run(["secrets", "init"]) == 0
    assert run(["secrets", "redis-acl", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("user default off") and text.count("\nuser ") == len(REDIS_USERS)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    password = SecretStore(isolated_home / ".logos" / "secrets").get("redis-risk")
    assert password and password not in text
