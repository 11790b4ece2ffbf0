from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from logos.paths import Paths
from logos.redact import MASK, is_secret_name, redact, redact_text, redact_url
from logos.settings import LogosSettings


@pytest.mark.parametrize("name", ["API_KEY", "alpaca_secret", "RISK_TOKEN", "redis_password", "passphrase"])
def test_secret_names_when_checked_then_recognised(name: str) -> None:
    assert is_secret_name(name)


def test_redact_when_nested_then_every_secret_masked() -> None:
    config = {
        "exchange": "binance",
        "api_key": "abc",
        "nested": {"TOKEN": "t", "items": [{"password": "p"}]},
        "dsn": "redis://:hunter2@redis:6379/0",
        "secret": SecretStr("s"),
        "empty_key": "",
    }
    redacted = redact(config)
    assert redacted["exchange"] == "binance"
    assert redacted["api_key"] == MASK and redacted["nested"]["TOKEN"] == MASK
    assert redacted["nested"]["items"][0]["password"] == MASK
    assert redacted["secret"] == MASK and redacted["empty_key"] == ""
    assert "hunter2" not in str(redacted)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
        ("redis://logos:hunter2@redis:6379/0", f"redis://logos:{MASK}@redis:6379/0"),
        (
            "rediss://logos:hunter2@redis:6380/1?ssl_cert_reqs=none",
            f"rediss://logos:{MASK}@redis:6380/1?ssl_cert_reqs=none",
        ),
        ("redis://:hun%40ter2@[::1]:6379/0", f"redis://:{MASK}@[::1]:6379/0"),
        ("redis://:hun@ter/2@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
        ("unix://:hunter2@/run/redis.sock?db=0", f"unix://:{MASK}@/run/redis.sock?db=0"),
        ("unix:///run/redis.sock?db=0&password=hunter2", f"unix:///run/redis.sock?db=0&password={MASK}"),
        ("redis://redis:6379/0?password=hunter2", f"redis://redis:6379/0?password={MASK}"),
        ("redis://redis/0?PassWord=hunter2&db=1", f"redis://redis/0?PassWord={MASK}&db=1"),
        ("redis://redis/0?pass=hunter2;pwd=hunter2", f"redis://redis/0?pass={MASK};pwd={MASK}"),
        (
            "redis://redis/0?Token=hunter2&api_key=hunter2&client_secret=hunter2",
            f"redis://redis/0?Token={MASK}&api_key={MASK}&client_secret={MASK}",
        ),
        ("redis://redis/0?username=logos&password=", "redis://redis/0?username=logos&password="),
        ("redis://logos@redis:6379/0", "redis://logos@redis:6379/0"),
        ("redis://127.0.0.1:6380/0", "redis://127.0.0.1:6380/0"),
    ],
)
def test_redact_url_when_secret_in_any_form_then_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_text(f"connecting to '{url}', retrying") == f"connecting to '{shown}', retrying"
    assert redact({"redis_url": url}) == {"redis_url": shown}


def test_redact_text_when_several_urls_then_each_masked_and_the_rest_kept() -> None:
    text = "redis://:a1@h:1/0 failed (then rediss://h:2/0?password=b2); giving up"
    assert redact_text(text) == f"redis://:{MASK}@h:1/0 failed (then rediss://h:2/0?password={MASK}); giving up"


def test_paths_when_rooted_then_match_the_documented_layout(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    assert paths.backtest("b1") == tmp_path / "runs" / "b1"
    assert paths.live_session("s1") == tmp_path / "runs/live/sessions/s1"
    assert paths.latest_session == tmp_path / "runs/live/latest_session"
    assert paths.ml_run("20240101_000000") == tmp_path / "runs/ml/20240101_000000"
    assert paths.current_model == tmp_path / "data/cache/models/current"
    assert paths.bar_cache == tmp_path / "data/cache/bars"
    assert paths.live_log == tmp_path / "logs/live.log"


def test_settings_when_env_set_then_read_with_logos_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOGOS_HOME", str(tmp_path))
    monkeypatch.setenv("LOGOS_STREAM_PREFIX", "demo")
    monkeypatch.setenv("LOGOS_SHARDS", "4")
    settings = LogosSettings()
    assert settings.paths.runs == tmp_path / "runs"
    assert settings.streams.bars(3) == "demo:bars:3"


def test_settings_when_out_of_bounds_then_startup_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGOS_MAX_DELIVERIES", "0")
    with pytest.raises(ValidationError, match="max_deliveries"):
        LogosSettings()
