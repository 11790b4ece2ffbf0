"""Wire contracts: every message that crosses a stream, as frozen pydantic models.

Each model has a literal ``type`` (the discriminator of :data:`AnyMessage`), an ``id`` and a UTC
timestamp ``ts``. Prices, quantities and money are :class:`~decimal.Decimal` and travel as
strings; floats are refused for them so that no rounding ever enters through the wire.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION = 1
"""Version of the wire format; carried by every stream entry next to the message type."""


def new_id() -> str:
    """Return a fresh random message id (producers that replay data pass deterministic ids)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (UTC expected), got a naive datetime")
    return value.astimezone(UTC)


def _refuse_float(value: Any) -> Any:
    # A float has already lost the exact decimal the producer meant; make it say so.
    if isinstance(value, bool | float):
        raise ValueError("decimal values travel as strings (e.g. '101.25'), not as floats or booleans")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware timestamp, normalised to UTC."""

WireDecimal = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    Field(allow_inf_nan=False),
    PlainSerializer(lambda value: str(value), return_type=str, when_used="json"),
]
"""An exact decimal that is a string on the wire."""

PositiveDecimal = Annotated[WireDecimal, Field(gt=0)]
NonNegativeDecimal = Annotated[WireDecimal, Field(ge=0)]
Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    DAY = "day"
    IOC = "ioc"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class TradingState(StrEnum):
    """The risk engine's trading state: what kinds of orders may pass."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class DenialReason(StrEnum):
    """Why the risk engine refused an intent; each is one rule."""

    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_NET_EXPOSURE = "max_net_exposure"
    MAX_POSITION = "max_position"
    ORDER_RATE = "order_rate"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    STALE_DATA = "stale_data"
    DRAWDOWN = "drawdown"
    REJECT_RATE = "reject_rate"
    REDUCING_ONLY = "reducing_only"
    TRADING_HALTED = "trading_halted"
    KILL_SWITCH = "kill_switch"
    INSUFFICIENT_CASH = "insufficient_cash"  # a buy costing more than the account's cash (and the tolerance)


class SignalRole(StrEnum):
    CHAMPION = "champion"
    SHADOW = "shadow"


class ServiceState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DEGRADED = "degraded"
    STOPPING = "stopping"


class ControlCommand(StrEnum):
    """Operator commands: halt stops new orders, kill also cancels open orders, resume re-arms.

    checkpoint asks the executor to write the session's files now (the feed sends it when a replay
    ends); it changes no trading state.
    """

    HALT = "halt"
    KILL = "kill"
    RESUME = "resume"
    CHECKPOINT = "checkpoint"


SourceSeq = Annotated[int | None, Field(ge=1, description="The sequence number of the bar this message comes from.")]
"""The ``seq`` of a message derived from a bar: intents, decisions, fills and snapshots trace back to their bar."""

WIRE = {"wire": True}
"""Validation context of messages read from a stream: there, ``id`` and ``ts`` must be present."""


def _check_limit_price(order_type: OrderType, limit_price: Decimal | None) -> None:
    if (order_type is OrderType.LIMIT) != (limit_price is not None):
        raise ValueError("limit_price is required for limit orders and forbidden for market orders")


class Message(BaseModel):
    """Base of every wire message: frozen, strict about unknown fields, with an id and a UTC time.

    In code, ``id`` and ``ts`` default to a fresh id and now; on the wire both are required, since a
    consumer that invented them would break de-duplication.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    id: Identifier = Field(default_factory=new_id, description="Unique id; consumers de-duplicate on it.")
    ts: UtcDatetime = Field(default_factory=utc_now, description="When the message was created (UTC).")

    @model_validator(mode="before")
    @classmethod
    def _require_identity_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("wire") and isinstance(data, dict):
            missing = [name for name in ("id", "ts") if name not in data]
            if missing:
                raise ValueError(f"a message on the wire carries {' and '.join(missing)}")
        return data


class Bar(Message):
    """A closed OHLCV bar for one symbol; ``ts`` is the bar's open time."""

    type: Literal["bar"] = "bar"
    symbol: Symbol
    timeframe: Literal["1m", "5m", "15m", "1h", "1d"] = "1m"
    open: PositiveDecimal
    high: PositiveDecimal
    low: PositiveDecimal
    close: PositiveDecimal
    volume: NonNegativeDecimal
    source: Identifier = Field(description="Provider that produced the bar (replay, yfinance, ccxt:<exchange>).")
    seq: int | None = Field(
        default=None, ge=1, description="The bar's place in the feed's canonical order (time, then symbol), from 1."
    )

    @model_validator(mode="after")
    def _check_range(self) -> Bar:
        if self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        for name in ("open", "close"):
            price = getattr(self, name)
            if not self.low <= price <= self.high:
                raise ValueError(f"{name} {price} is outside [low {self.low}, high {self.high}]")
        return self


class OrderIntent(Message):
    """What a strategy wants to hold: a target position, not an order to send."""

    type: Literal["order_intent"] = "order_intent"
    symbol: Symbol
    target_quantity: WireDecimal = Field(description="Signed target position (negative is short).")
    reference_price: PositiveDecimal = Field(description="Price the target was sized at (last close).")
    bar_ts: UtcDatetime = Field(description="Open time of the bar the decision was made on.")
    strategy: Identifier
    order_type: OrderType = OrderType.MARKET
    limit_price: PositiveDecimal | None = None

    seq: SourceSeq = None

    @model_validator(mode="after")
    def _check_limit(self) -> OrderIntent:
        _check_limit_price(self.order_type, self.limit_price)
        return self


class Order(Message):
    """An intent the risk engine approved, with the checks it passed; the executor acts on it."""

    type: Literal["order"] = "order"
    intent_id: Identifier
    symbol: Symbol
    target_quantity: WireDecimal
    reference_price: PositiveDecimal
    order_type: OrderType = OrderType.MARKET
    limit_price: PositiveDecimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    strategy: Identifier
    checks_passed: tuple[str, ...] = Field(default=(), description="Risk rules evaluated, in order.")

    seq: SourceSeq = None

    @model_validator(mode="after")
    def _check_limit(self) -> Order:
        _check_limit_price(self.order_type, self.limit_price)
        return self


class OrderDenied(Message):
    """An intent the risk engine refused, with the rule that refused it and why."""

    type: Literal["order_denied"] = "order_denied"
    intent_id: Identifier
    symbol: Symbol
    reason: DenialReason
    detail: str = Field(description="Human-readable explanation with the numbers that broke the rule.")
    trading_state: TradingState
    seq: SourceSeq = None


class TradingStateChanged(Message):
    """Risk's trading state or kill switch changed: a breaker tripped or cleared, or an operator acted."""

    type: Literal["trading_state_changed"] = "trading_state_changed"
    trading_state: TradingState
    kill_switch: bool
    cause: Identifier = Field(
        description="The breaker (drawdown, stale_data, ...), kill_switch, operator or recovered."
    )
    detail: str = Field(description="Human-readable explanation with the numbers that moved the state.")
    seq: SourceSeq = None


class OrderRejected(Message):
    """The venue refused an order risk had approved (not a risk denial); the reject-rate breaker counts it."""

    type: Literal["order_rejected"] = "order_rejected"
    order_id: Identifier
    intent_id: Identifier
    symbol: Symbol
    reason: str = Field(description="The venue's explanation.")
    seq: SourceSeq = None


class Fill(Message):
    """An execution of (part of) an order at one price."""

    type: Literal["fill"] = "fill"
    order_id: Identifier
    intent_id: Identifier | None = None
    symbol: Symbol
    side: Side
    quantity: PositiveDecimal
    price: PositiveDecimal
    fee: NonNegativeDecimal = Decimal("0")
    fee_currency: str = "USD"
    liquidity: Liquidity = Liquidity.TAKER
    broker: Identifier = "paper"
    seq: SourceSeq = None


class Position(BaseModel):
    """One symbol's holding inside an account snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    quantity: WireDecimal
    average_price: NonNegativeDecimal
    market_price: NonNegativeDecimal
    unrealized_pnl: WireDecimal


class OpenOrder(BaseModel):
    """What the account's working orders of one symbol still have to fill, signed (negative sells)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: Symbol
    quantity: WireDecimal


class AccountSnapshot(Message):
    """The executor's authoritative account: cash, equity, positions and PnL at ``ts``."""

    type: Literal["account_snapshot"] = "account_snapshot"
    account: Identifier = "paper"
    cash: WireDecimal
    equity: WireDecimal
    realized_pnl: WireDecimal = Decimal("0")
    unrealized_pnl: WireDecimal = Decimal("0")
    fees_paid: NonNegativeDecimal = Decimal("0")
    gross_exposure: NonNegativeDecimal = Decimal("0")
    net_exposure: WireDecimal = Decimal("0")
    positions: tuple[Position, ...] = ()
    open_orders: tuple[OpenOrder, ...] = Field(
        default=(), description="Working orders by symbol: the signed quantity they still have to fill."
    )
    bar_symbol: Symbol | None = Field(default=None, description="The bar whose handling produced this snapshot.")
    bar_ts: UtcDatetime | None = Field(default=None, description="Open time of that bar: the data time it reflects.")
    seq: SourceSeq = None


class Watermark(Message):
    """A service's progress through the canonical order: everything it publishes for bars through ``seq``
    (and ``stage``) is on this stream before this entry.

    A watermark leaves in the same transaction as the outputs it covers. Stage 0 covers a bar's own
    work (ml: its intents; risk: its decisions on them and on the account after the bar; executor:
    its fills at the bar and the account after it); stage 1, the executor's answer to the decisions
    of that bar (fills at the close, rejections) and risk's reaction to that answer. ``active`` says
    whether the stage published anything the next service must answer before the next bar: a quiet
    bar costs no second round trip.
    """

    type: Literal["watermark"] = "watermark"
    service: Identifier
    seq: int = Field(ge=0, description="Done through this bar of the canonical order (0: before the first).")
    stage: Literal[0, 1] = 0
    active: bool = Field(default=False, description="Whether this stage published messages downstream must answer.")


class Signal(Message):
    """A strategy's raw output for one bar; shadow signals are scored, never traded."""

    type: Literal["signal"] = "signal"
    symbol: Symbol
    bar_ts: UtcDatetime
    strategy: Identifier
    model_version: Identifier | None = None
    role: SignalRole
    value: float = Field(allow_inf_nan=False, description="Target exposure in [-1, 1].", ge=-1, le=1)
    seq: SourceSeq = None


class ServiceStatus(Message):
    """A service's heartbeat: what it is doing and anything unsafe about it."""

    type: Literal["service_status"] = "service_status"
    service: Identifier
    instance: Identifier
    version: str
    state: ServiceState
    uptime_seconds: float = Field(ge=0)
    messages_handled: int = Field(ge=0)
    dead_lettered: int = Field(ge=0)
    last_message_at: UtcDatetime | None = None
    warnings: tuple[str, ...] = Field(default=(), description="Unsafe or degraded conditions, one line each.")
    trading_state: TradingState | None = Field(default=None, description="Risk's trading state (risk only).")
    kill_switch: bool | None = Field(default=None, description="Whether the kill switch is engaged (risk only).")


class Control(Message):
    """An operator command for the whole stack."""

    type: Literal["control"] = "control"
    command: ControlCommand
    reason: str = Field(min_length=1, max_length=500)
    issued_by: Identifier = "operator"


class DeadLetter(Message):
    """A stream entry that could not be handled, kept with the reason so nothing is lost."""

    type: Literal["dead_letter"] = "dead_letter"
    source_stream: str
    entry_id: str
    group: str
    consumer: str
    deliveries: int = Field(ge=0)
    reason: str
    # a bounded excerpt, so a huge bad entry cannot fill Redis with copies; the size and hash identify it
    fields: dict[str, str] = Field(description="The entry's raw fields as read, cut to a 2,048-character excerpt.")
    truncated: bool = Field(description="Whether ``fields`` is cut short of the entry.")
    size: int = Field(ge=0, description="Bytes of the entry's field names and values (UTF-8).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the entry's fields as canonical JSON.")


AnyMessage = Annotated[
    Bar
    | OrderIntent
    | Order
    | OrderDenied
    | TradingStateChanged
    | OrderRejected
    | Fill
    | AccountSnapshot
    | Signal
    | ServiceStatus
    | Control
    | DeadLetter
    | Watermark,
    Field(discriminator="type"),
]
"""Every wire message, discriminated by its ``type`` field."""

MESSAGE_TYPES: dict[str, type[Message]] = {
    model.model_fields["type"].default: model
    for model in (
        Bar,
        OrderIntent,
        Order,
        OrderDenied,
        TradingStateChanged,
        OrderRejected,
        Fill,
        AccountSnapshot,
        Signal,
        ServiceStatus,
        Control,
        DeadLetter,
        Watermark,
    )
}
"""Message classes by their ``type`` literal."""

message_adapter: TypeAdapter[AnyMessage] = TypeAdapter(AnyMessage)


def json_schemas() -> dict[str, Any]:
    """Return the JSON Schema of every message, keyed by its ``type``, as it appears on the wire."""
    return {
        name: _annotate_decimal_bounds(model.model_json_schema(mode="serialization"))
        for name, model in MESSAGE_TYPES.items()
    }


_DECIMAL_BOUNDS = {"gt": "x-decimal-exclusive-minimum", "ge": "x-decimal-minimum"}


def _annotate_decimal_bounds(node: Any) -> Any:
    # Decimals are strings on the wire, where JSON Schema has no numeric bounds: keep them as annotations.
    if isinstance(node, dict):
        return {
            _DECIMAL_BOUNDS.get(key, key) if node.get("type") == "string" else key: _annotate_decimal_bounds(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_annotate_decimal_bounds(item) for item in node]
    return node
