"""The settings of a paper session run in one process (``logos trade``), from the command's options."""

from __future__ import annotations

from typing import Any, Literal

from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.names import UnsafeName, check_name
from logos.settings import LogosSettings
from services.cli.brokers import BrokerChoice
from services.cli.options import fail, parse_decimal
from services.executor.config import ExecutorSettings
from services.ml.config import MLSettings
from services.risk.config import RiskSettings


def session_settings(
    logos: LogosSettings,
    strategy: str,
    params: dict[str, Any],
    sizing: str,
    cash: str,
    fee_bps: str,
    slippage_bps: str,
    fill: FillTiming,
    session_id: str | None,
    choice: BrokerChoice | None,
    clock: Literal["wall", "data"],
) -> tuple[ExecutorSettings, MLSettings, RiskSettings]:
    """Return the executor's, ml's and risk's settings; stop with one line if the session exists already.

    Settings that fail validation raise pydantic's ValidationError for the command to report.
    """
    fee = parse_decimal("--fee-bps", fee_bps)
    fills = FillModelConfig(timing=fill, taker_fee_bps=fee, maker_fee_bps=fee,
                            slippage_bps=parse_decimal("--slippage-bps", slippage_bps))  # fmt: skip
    executor = ExecutorSettings(logos=logos, cash=parse_decimal("--cash", cash), fills=fills)
    if choice is not None:
        executor = choice.apply(executor)
    try:
        if session_id:
            executor = executor.model_copy(update={"session_id": check_name("--session-id", session_id)})
        session_dir = logos.paths.live_session(executor.session_id)
    except UnsafeName as exc:
        raise fail(str(exc)) from None
    if session_dir.exists():
        raise fail(f"{session_dir} exists already; choose another --session-id")
    ml = MLSettings(logos=logos, strategy=strategy, params=params, sizing=sizing)
    risk = RiskSettings(logos=logos, clock=clock, state_file=session_dir / "risk_state.json")
    return executor, ml, risk
