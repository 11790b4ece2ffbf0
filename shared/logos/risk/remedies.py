"""The setting behind each risk denial: what a user changes when a rule keeps refusing their orders.

Limits are the risk service's ``RISK_LIMITS__<NAME>`` (fields of :class:`logos.risk.limits.RiskLimits`);
order sizes come from ml's sizing (``--sizing`` on the command line, ``ML_SIZING`` on the stack).
"""

from __future__ import annotations

from logos.contracts import DenialReason

SIZING = "--sizing (ML_SIZING)"

LIMITS_BY_REASON: dict[DenialReason, tuple[str, ...]] = {
    DenialReason.MAX_ORDER_NOTIONAL: ("max_order_notional",),
    DenialReason.MAX_POSITION: ("max_position_notional",),
    DenialReason.MAX_GROSS_EXPOSURE: ("max_gross_exposure",),
    DenialReason.MAX_NET_EXPOSURE: ("max_net_exposure",),
    DenialReason.ORDER_RATE: ("max_orders_per_minute",),
    DenialReason.SYMBOL_NOT_ALLOWED: ("allowed_symbols",),
    DenialReason.STALE_DATA: ("stale_after_seconds",),
    DenialReason.DRAWDOWN: ("max_drawdown", "max_intraday_drawdown"),
    DenialReason.REJECT_RATE: ("max_reject_rate", "reject_window"),
    DenialReason.REDUCING_ONLY: ("max_reject_rate", "stale_after_seconds"),
    DenialReason.TRADING_HALTED: ("max_drawdown", "max_intraday_drawdown"),
    DenialReason.KILL_SWITCH: (),
    DenialReason.INSUFFICIENT_CASH: ("buying_power_tolerance",),
}
"""The limits (``RiskLimits`` fields) that decide each rule."""


def setting(limit: str) -> str:
    """The environment variable of one ``RiskLimits`` field."""
    return f"RISK_LIMITS__{limit.upper()}"


def _settings(reason: DenialReason) -> str:
    return " or ".join(setting(limit) for limit in LIMITS_BY_REASON[reason])


def remedy(reason: DenialReason) -> str:
    """Say which setting to change so that ``reason`` stops refusing orders."""
    match reason:
        case DenialReason.MAX_ORDER_NOTIONAL | DenialReason.MAX_POSITION:
            return f"lower {SIZING} or raise {_settings(reason)}"
        case DenialReason.MAX_GROSS_EXPOSURE | DenialReason.MAX_NET_EXPOSURE:
            return f"lower {SIZING}, trade fewer symbols, or raise {_settings(reason)}"
        case DenialReason.ORDER_RATE:
            return f"trade less often (e.g. longer strategy windows) or raise {_settings(reason)}"
        case DenialReason.SYMBOL_NOT_ALLOWED:
            return f"add the symbol to {_settings(reason)} (or unset it to allow every symbol)"
        case DenialReason.STALE_DATA:
            return f"check that the feed still delivers bars, or raise {_settings(reason)}"
        case DenialReason.REJECT_RATE:
            return f"see why the venue rejects orders (session.md), or raise {_settings(reason)}"
        case DenialReason.REDUCING_ONLY:
            return f"a breaker allows only reducing orders (see the trading state); its limit is {_settings(reason)}"
        case DenialReason.DRAWDOWN | DenialReason.TRADING_HALTED:
            return f"a drawdown breaker halted trading ({_settings(reason)}); `logos resume` re-arms it"
        case DenialReason.KILL_SWITCH:
            return "the kill switch is engaged; `logos resume` releases it"
        case DenialReason.INSUFFICIENT_CASH:
            return f"lower {SIZING} (the cash is spent on other positions), or raise {_settings(reason)}"
