from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from logos.bus.codec import InvalidEntry, decode, encode
from logos.contracts import (
    MESSAGE_TYPES,
    AccountSnapshot,
    Bar,
    Control,
    ControlCommand,
    DeadLetter,
    DenialReason,
    Fill,
    Order,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    OrderType,
    Position,
    ServiceState,
    ServiceStatus,
    Side,
    Signal,
    SignalRole,
    TradingState,
    TradingStateChanged,
    Watermark,
    json_schemas,
    message_adapter,
)

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def make_bar(**overrides: object) -> Bar:
    values: dict[str, object] = {
        "symbol": "BTC/USDT",
        "ts": T0,
        "open": Decimal("100.10"),
        "high": Decimal("101.00"),
        "low": Decimal("99.50"),
        "close": Decimal("100.90"),
        "volume": Decimal("12.5"),
        "source": "replay",
    }
    values.update(overrides)
    return Bar(**values)  # type: ignore[arg-type]


EXAMPLES = [
    make_bar(),
    OrderIntent(
        symbol="AAPL",
        target_quantity=Decimal("-10"),
        reference_price=Decimal("190.12"),
        bar_ts=T0,
        strategy="sma_cross",
    ),
    Order(
        intent_id="i1",
        symbol="AAPL",
        target_quantity=Decimal("5"),
        reference_price=Decimal("190.12"),
        strategy="s",
        order_type=OrderType.LIMIT,
        limit_price=Decimal("189.5"),
        checks_passed=("max_order_notional",),
    ),
    OrderDenied(
        intent_id="i1",
        symbol="AAPL",
        reason=DenialReason.MAX_POSITION,
        detail="10 > 5",
        trading_state=TradingState.ACTIVE,
    ),
    TradingStateChanged(
        trading_state=TradingState.REDUCING,
        kill_switch=False,
        cause="stale_data",
        detail="no fresh bar for AAPL",
    ),
    OrderRejected(order_id="o1", intent_id="i1", symbol="AAPL", reason="quantity 10 exceeds the venue's maximum 5"),
    Fill(
        order_id="o1",
        symbol="AAPL",
        side=Side.BUY,
        quantity=Decimal("0.001"),
        price=Decimal("190.12"),
        fee=Decimal("0.01"),
    ),
    AccountSnapshot(
        cash=Decimal("1000"),
        equity=Decimal("1100.5"),
        positions=(
            Position(
                symbol="AAPL",
                quantity=Decimal("1"),
                average_price=Decimal("100"),
                market_price=Decimal("100.5"),
                unrealized_pnl=Decimal("0.5"),
            ),
        ),
    ),
    Signal(symbol="AAPL", bar_ts=T0, strategy="s", role=SignalRole.SHADOW, value=-0.25),
    ServiceStatus(
        service="feed",
        instance="feed",
        version="1",
        state=ServiceState.READY,
        uptime_seconds=1.5,
        messages_handled=3,
        dead_lettered=0,
    ),
    Control(command=ControlCommand.KILL, reason="drill"),
    DeadLetter(
        source_stream="logos:bars:0",
        entry_id="1-0",
        group="ml",
        consumer="ml",
        deliveries=1,
        reason="bad",
        fields={"x": "y"},
        truncated=False,
        size=2,
        sha256="0" * 64,
    ),
    Watermark(service="risk", seq=42, stage=1, active=True, ts=T0),
]


def test_examples_cover_every_message_type() -> None:
    assert {example.type for example in EXAMPLES} == set(MESSAGE_TYPES)  # type: ignore[attr-defined]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda message: message.type)
def test_encode_then_decode_when_valid_then_equal(message: object) -> None:
    fields = encode(message)  # type: ignore[arg-type]
    assert decode(fields, frozenset(MESSAGE_TYPES)) == message
    assert message_adapter.validate_json(fields["body"]) == message


def test_decimals_when_serialized_then_strings_on_the_wire() -> None:
    body = json.loads(make_bar().model_dump_json())
    assert body["open"] == "100.10" and body["volume"] == "12.5"


def test_decimal_when_given_a_float_then_refused() -> None:
    with pytest.raises(ValidationError, match="not as floats"):
        make_bar(open=100.1)
    with pytest.raises(ValidationError, match="not as floats"):
        Bar.model_validate_json(make_bar().model_dump_json().replace('"100.10"', "100.10"))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1", "0", "abc"])
def test_price_when_not_a_positive_finite_decimal_then_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        make_bar(open=value, low=value)


def test_unknown_field_when_present_then_refused() -> None:
    body = json.loads(make_bar().model_dump_json())
    body["leverage"] = "10"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Bar.model_validate(body)


def test_timestamp_when_naive_then_refused_and_when_offset_then_utc() -> None:
    with pytest.raises(ValidationError, match="naive"):
        make_bar(ts=datetime(2024, 1, 1))
    shifted = make_bar(ts=datetime(2024, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert shifted.ts == datetime(2024, 1, 1, 14, 0, tzinfo=UTC) and shifted.ts.tzinfo is UTC


def test_message_when_assigned_then_frozen() -> None:
    bar = make_bar()
    with pytest.raises(ValidationError):
        bar.close = Decimal("1")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"high": Decimal("99"), "low": Decimal("100")}, "below low"),
        ({"close": Decimal("105")}, "close 105 is outside"),
        ({"open": Decimal("90")}, "open 90 is outside"),
    ],
)
def test_bar_when_prices_inconsistent_then_refused(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        make_bar(**overrides)


def test_intent_when_limit_without_price_then_refused() -> None:
    with pytest.raises(ValidationError, match="limit_price is required"):
        OrderIntent(
            symbol="A",
            target_quantity=Decimal("1"),
            reference_price=Decimal("1"),
            bar_ts=T0,
            strategy="s",
            order_type=OrderType.LIMIT,
        )


def test_signal_when_outside_unit_range_then_refused() -> None:
    with pytest.raises(ValidationError):
        Signal(symbol="A", bar_ts=T0, strategy="s", role=SignalRole.CHAMPION, value=1.5)


def test_decode_when_type_does_not_belong_on_stream_then_invalid() -> None:
    with pytest.raises(InvalidEntry, match="does not belong on this stream"):
        decode(encode(make_bar()), frozenset({"fill"}))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"type": "bar", "v": "1"}, "missing field"),
        ({"type": "bar", "v": "1", "body": "{}", "extra": "1"}, "unexpected field"),
        ({"type": "bar", "v": "2", "body": "{}"}, "schema version '2'"),
        ({"type": "bar", "v": "1", "body": "not json"}, "body is not a valid bar"),
        ({"type": "bar", "v": "1", "body": '{"symbol": "X"}'}, "body is not a valid bar"),
        ({"type": "bar", "v": "1", "body": "\udcff"}, "not valid UTF-8"),
    ],
)
def test_decode_when_entry_malformed_then_reason_says_why(fields: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidEntry, match=match):
        decode(fields, frozenset({"bar"}))


def test_decode_when_envelope_type_disagrees_with_body_then_invalid() -> None:
    fields = encode(make_bar())
    fields["type"] = "fill"
    with pytest.raises(InvalidEntry, match="not a valid fill"):
        decode(fields, frozenset({"fill", "bar"}))


def test_json_schemas_when_printed_then_one_per_type_with_strings_for_decimals() -> None:
    schemas = json_schemas()
    assert set(schemas) == set(MESSAGE_TYPES)
    assert schemas["bar"]["properties"]["open"]["type"] == "string"
    assert schemas["bar"]["additionalProperties"] is False


@pytest.mark.parametrize("missing", ["id", "ts"])
def test_decode_when_body_lacks_id_or_ts_then_invalid_but_code_may_omit_them(missing: str) -> None:
    fields = encode(make_bar())
    body = json.loads(fields["body"])
    del body[missing]
    fields["body"] = json.dumps(body)
    with pytest.raises(InvalidEntry, match=f"carries {missing}"):
        decode(fields, frozenset({"bar"}))
    assert Bar.model_validate(body).id  # constructing in code still fills them in


def test_json_schemas_when_decimal_bounded_then_bounds_are_annotations_not_numeric_keywords() -> None:
    price = json_schemas()["bar"]["properties"]["open"]
    assert "gt" not in price and price["x-decimal-exclusive-minimum"] == 0
    assert json_schemas()["service_status"]["properties"]["uptime_seconds"]["minimum"] == 0
