"""The executor's start-up refusals: combinations of its settings that would trade unsafely or not at all.

``create_app`` refuses to build the service on any of them, however it is started, and ``logos
validate-config`` lists them with the rest of the stack's. No line holds a secret's value.
"""

from __future__ import annotations

from datetime import datetime

from logos.risk.limits import RiskLimits
from services.executor.brokers.credentials import credential_pair, stamp_problem
from services.executor.brokers.ib_broker import IB_NOT_SUPPORTED
from services.executor.config import ExecutorSettings


def startup_refusals(executor: ExecutorSettings, now: datetime | None = None) -> list[str]:
    """Every reason the executor must not start with these settings."""
    found: list[str] = []
    if executor.broker == "ib":
        found.append(IB_NOT_SUPPORTED)
    if executor.dry_run and executor.live:
        found.append(
            "EXECUTOR_DRY_RUN and EXECUTOR_LIVE are both set: a dry run sends nothing, a live run sends everything; "
            "unset one"
        )
    if executor.live and not executor.acknowledge_risk:
        found.append(
            "EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true (`logos trade --live --i-acknowledge-risk`): "
            "live orders spend real money"
        )
    if executor.live and executor.broker == "paper":
        found.append("EXECUTOR_LIVE=true with EXECUTOR_BROKER=paper: choose the venue to trade on (ccxt or alpaca)")
    if executor.broker == "ccxt":
        found += _ccxt_refusals(executor)
    if executor.broker == "alpaca":
        found += _alpaca_refusals(executor)
    if executor.live and executor.broker in ("ccxt", "alpaca"):
        found += _credential_refusals(executor, now)
    return found


def hard_limit_warnings(executor: ExecutorSettings, risk: RiskLimits) -> list[str]:
    """Each executor hard limit below risk's limit, or facing a risk rule that is off: approved orders refused there."""
    return executor.hard_limits(risk).below(risk)


def _credential_refusals(executor: ExecutorSettings, now: datetime | None) -> list[str]:
    key, secret = credential_pair(executor)
    if not key or not secret:
        names = "EXECUTOR_CCXT_API_KEY and EXECUTOR_CCXT_SECRET"
        if executor.broker == "alpaca":
            names = "APCA_API_KEY_ID and APCA_API_SECRET_KEY"
        return [f"EXECUTOR_LIVE=true without {executor.broker} credentials: set {names}"]
    problem = stamp_problem(executor, now)
    if problem is None:
        return []
    command = "logos brokers check alpaca --live"
    if executor.broker == "ccxt":
        command = f"logos brokers check ccxt --exchange {executor.exchange} --live"
    return [f"EXECUTOR_LIVE=true: the {executor.broker} credentials {problem}; run `{command}`"]


def _ccxt_refusals(executor: ExecutorSettings) -> list[str]:
    import ccxt  # imported here: only a ccxt executor pays for loading it

    if not executor.exchange:
        return ["EXECUTOR_BROKER=ccxt needs EXECUTOR_EXCHANGE (a ccxt exchange id such as binance)"]
    if executor.exchange not in ccxt.exchanges:
        return [f"EXECUTOR_EXCHANGE={executor.exchange} is not a ccxt exchange id; see ccxt.exchanges"]
    found = []
    if executor.live and executor.sandbox:
        found.append(
            "EXECUTOR_LIVE=true with EXECUTOR_SANDBOX=true: sandbox keys do not trade on the live exchange; unset "
            "EXECUTOR_SANDBOX to go live, or EXECUTOR_LIVE to stay on the testnet"
        )
    if not executor.live and not executor.dry_run and not executor.sandbox:
        found.append(
            f"EXECUTOR_BROKER=ccxt would send orders to the live {executor.exchange} without EXECUTOR_LIVE: set "
            "EXECUTOR_DRY_RUN=true (nothing sent), EXECUTOR_SANDBOX=true (testnet), or go live explicitly"
        )
    return found


def _alpaca_refusals(executor: ExecutorSettings) -> list[str]:
    key = executor.alpaca_api_key.get_secret_value() if executor.alpaca_api_key else ""
    if executor.live and key.startswith("PK"):
        return [
            "EXECUTOR_LIVE=true with Alpaca paper keys (the key id starts with PK): use live keys (AK...) for the "
            "live endpoint, or unset EXECUTOR_LIVE to trade on paper"
        ]
    if not executor.live and key.startswith("AK"):
        return [
            "Alpaca live keys (the key id starts with AK) with the paper endpoint: use paper keys (PK...), or go "
            "live explicitly with EXECUTOR_LIVE and EXECUTOR_ACKNOWLEDGE_RISK"
        ]
    return []
