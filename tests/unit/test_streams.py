from __future__ import annotations

import zlib

import pytest

from logos.streams import StreamNames, shard_of


def test_names_when_default_prefix_then_match_the_architecture() -> None:
    names = StreamNames()
    assert names.bars() == "logos:bars:0" and names.intents() == "logos:intents:0"
    assert [names.orders, names.fills, names.account, names.signals, names.status, names.control, names.dlq] == [
        "logos:orders",
        "logos:fills",
        "logos:account",
        "logos:signals",
        "logos:status",
        "logos:control",
        "logos:dlq",
    ]


def test_shard_when_symbol_given_then_stable_crc32() -> None:
    assert shard_of("BTC/USDT", 4) == zlib.crc32(b"BTC/USDT") % 4
    assert shard_of("AAPL", 1) == 0
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("AAPL", 0)


def test_sharded_names_when_several_shards_then_every_symbol_has_one_stream() -> None:
    names = StreamNames(prefix="p", shards=3)
    assert names.all_bars() == ["p:bars:0", "p:bars:1", "p:bars:2"]
    assert names.bars_for("ETH/USDT") == f"p:bars:{zlib.crc32(b'ETH/USDT') % 3}"
    with pytest.raises(ValueError, match="outside"):
        names.bars(3)


def test_accepted_types_when_known_stream_then_its_messages_only() -> None:
    names = StreamNames(prefix="p", shards=2)
    assert names.accepted_types("p:bars:1") == {"bar"}
    assert names.accepted_types("p:orders") == {"order", "order_denied", "trading_state_changed", "watermark"}
    assert names.accepted_types("p:fills") == {"fill", "order_rejected", "watermark"}
    for bad in ("p:bars:2", "p:bars", "q:orders", "p:orders:0", "p:nothing"):
        with pytest.raises(ValueError, match="not a stream"):
            names.accepted_types(bad)


def test_every_stream_when_listed_then_accepts_some_type() -> None:
    names = StreamNames(prefix="p", shards=2)
    assert all(names.accepted_types(stream) for stream in names.all())


def test_prefix_when_blank_then_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        StreamNames(prefix="a b")
