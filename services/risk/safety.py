"""The risk service's start-up refusals: no kill switch without a token, no trading without its core limits.

``create_app`` refuses to build the service on any of them, however it is started, and ``logos
validate-config`` lists them with the rest of the stack's.
"""

from __future__ import annotations

from services.risk.config import RiskSettings

# limits without which trading is unbounded; each may still be changed, not switched off
REQUIRED_LIMITS = ("max_order_notional", "max_position_notional", "max_drawdown", "max_orders_per_minute")


def kill_switch_refusals(risk: RiskSettings) -> list[str]:
    """Refuse a kill switch that no one can use: it needs a bearer token."""
    if risk.control_token is None or not risk.control_token.get_secret_value():
        return [
            "RISK_CONTROL_TOKEN is not set: the kill switch needs a token (e.g. `openssl rand -hex 16`, used again "
            "with `logos kill`; `make paper` keeps one in .logos/control-token)"
        ]
    return []


def startup_refusals(risk: RiskSettings) -> list[str]:
    """Every reason the risk service must not start with these settings."""
    found = kill_switch_refusals(risk)
    for name in REQUIRED_LIMITS:
        if getattr(risk.limits, name) is None:
            found.append(f"RISK_LIMITS__{name.upper()} is not set: trading without it is unbounded; set it")
    return found
