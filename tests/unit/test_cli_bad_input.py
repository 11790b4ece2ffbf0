"""Bad input on the command line: one line on stderr, exit code 2, and nothing written anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import run

BACKTEST = ["backtest", "--fixture", "crypto_1m", "--symbol", "BTC-USD", "--strategy", "sma_cross"]
TRADE = ["trade", "--fixture", "sma_demo_1m", "--strategy", "sma_cross"]
PORTFOLIO = ["portfolio", "backtest", "--fixture", "sp500_daily", "--method", "equal_weight"]
HEADER = "timestamp,symbol,open,high,low,close,volume\n"
ROWS = "".join(f"2024-01-01T00:{minute:02d}:00Z,BTC-USD,100,101,99,100.5,10\n" for minute in range(60))

# (case, argv with {inputs} for the folder of bad files, environment)
BAD_INPUTS: list[tuple[str, list[str], dict[str, str]]] = [
    ("run id climbs out", [*BACKTEST, "--run-id", "../../etc"], {}),
    ("run id absolute", [*BACKTEST, "--run-id", "/tmp/logos-escape"], {}),
    ("run id with a slash", [*BACKTEST, "--run-id", "a/b"], {}),
    ("run id with a semicolon", [*BACKTEST, "--run-id", "a;rm"], {}),
    ("run id with a space", [*BACKTEST, "--run-id", "a b"], {}),
    ("run id leading dash", [*BACKTEST, "--run-id=-rf"], {}),
    ("run id leading dot", [*BACKTEST, "--run-id", ".hidden"], {}),
    ("run id of 300 characters", [*BACKTEST, "--run-id", "a" * 300], {}),
    ("portfolio run id climbs out", [*PORTFOLIO, "--run-id", "../../etc"], {}),
    ("session id climbs out", [*TRADE, "--session-id", "../../etc"], {}),
    ("session id absolute", [*TRADE, "--session-id", "/tmp/logos-escape"], {}),
    ("session id of 300 characters", [*TRADE, "--session-id", "s" * 300], {}),
    ("negative seed", [*BACKTEST, "--seed", "-1"], {}),
    ("seed not a number", [*BACKTEST, "--seed", "x"], {}),
    ("unknown option", [*BACKTEST, "--bogus"], {}),
    ("fill timing unknown", [*BACKTEST, "--fill", "later"], {}),
    ("negative volatility target", [*BACKTEST, "--sizing", "vol:-1"], {}),
    ("sizing unknown", [*BACKTEST, "--sizing", "bogus"], {}),
    ("cash not a number", [*BACKTEST, "--cash", "abc"], {}),
    ("strategy unknown", ["backtest", "--fixture", "crypto_1m", "--strategy", "nope"], {}),
    ("parameter out of bounds", [*BACKTEST, "--param", "fast=0"], {}),
    ("parameter unknown", [*BACKTEST, "--param", "nope=1"], {}),
    ("fixture unknown", ["backtest", "--fixture", "nope", "--strategy", "sma_cross"], {}),
    ("data file missing", ["backtest", "--data", "{inputs}/missing.csv", "--strategy", "sma_cross"], {}),
    ("data file with one row", ["backtest", "--data", "{inputs}/one_row.csv", "--strategy", "sma_cross"], {}),
    ("data with an infinite price", ["backtest", "--data", "{inputs}/infinite.csv", "--strategy", "sma_cross"], {}),
    ("shards zero", BACKTEST, {"LOGOS_SHARDS": "0"}),
    ("feed unknown", [*TRADE, "--feed", "bogus"], {}),
    ("broker not supported", [*TRADE, "--broker", "ib", "--dry-run"], {}),
    ("portfolio start after end", [*PORTFOLIO, "--start", "2022-01-01", "--end", "2021-01-01"], {}),
    ("portfolio method unknown", ["portfolio", "allocate", "--fixture", "sp500_daily", "--method", "nope"], {}),
    ("unknown command", ["nonsense"], {}),
]


def _files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*")}


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "one_row.csv").write_text(HEADER + ROWS.splitlines(keepends=True)[0])
    infinite = ROWS.splitlines(keepends=True)
    infinite[17] = infinite[17].replace(",100.5,", ",inf,")
    (folder / "infinite.csv").write_text(HEADER + "".join(infinite))
    return folder


@pytest.mark.parametrize(("argv", "environment"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_run_when_input_is_bad_then_one_line_exit_2_and_nothing_written(
    argv: list[str],
    environment: dict[str, str],
    inputs: Path,
    tmp_path: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = isolated_home.parent / "deep" / "down" / "home"
    monkeypatch.setenv("LOGOS_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    before = _files(tmp_path)

    code = run([part.replace("{inputs}", str(inputs)) for part in argv])

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(("error: ", "refused: ")), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert "errors.pydantic.dev" not in lines[0]
    assert _files(tmp_path) - before <= {Path("deep"), Path("deep/down"), Path("deep/down/home")}
    assert not Path("/tmp/logos-escape").exists()


def test_run_when_input_is_bad_then_the_message_says_what_to_fix(
    inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "not a safe name: use 1-128 letters": [*BACKTEST, "--run-id", "../../etc"],
        "(300 characters)": [*BACKTEST, "--run-id", "a" * 300],
        "seed: Input should be greater than or equal to 0": [*BACKTEST, "--seed", "-1"],
        "sizing 'vol:-1': target: Input should be greater than 0": [*BACKTEST, "--sizing", "vol:-1"],
        "No such option: --frobnicate (see `logos backtest --help`)": [*BACKTEST, "--frobnicate"],
    }
    for expected, argv in cases.items():
        assert run(argv) == 2
        assert expected in capsys.readouterr().err


def test_run_when_a_setting_is_bad_then_the_line_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOGOS_SHARDS", "0")
    assert run(BACKTEST) == 2
    assert capsys.readouterr().err == "error: LOGOS_SHARDS: Input should be greater than or equal to 1\n"


def test_run_when_a_defect_raises_then_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the ledger\nbroke")

    monkeypatch.setattr("logos.backtest.engine.run_backtest", broken)
    assert run(BACKTEST) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: unexpected RuntimeError: the ledger broke (set LOGOS_DEBUG=1 for the traceback)"
    ]


def test_run_when_logos_debug_is_set_then_a_defect_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the ledger broke")

    monkeypatch.setattr("logos.backtest.engine.run_backtest", broken)
    monkeypatch.setenv("LOGOS_DEBUG", "1")
    with pytest.raises(RuntimeError, match="the ledger broke"):
        run(BACKTEST)


def test_backtest_when_three_start_at_once_with_one_run_id_then_one_writes_and_two_refuse(
    isolated_home: Path,
) -> None:
    command = [sys.executable, "-m", "services.cli", *BACKTEST, "--run-id", "same"]
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(process.wait(timeout=120), process.stderr.read() if process.stderr else "") for process in started]

    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2], results
    for code, err in results:
        if code == 2:
            assert err.splitlines() == [
                f"error: {isolated_home / 'runs' / 'same'} exists already; choose another --run-id"
            ]
    assert (isolated_home / "runs" / "same" / "metrics.json").exists()
    assert [path.name for path in (isolated_home / "runs").iterdir()] == ["same"]
