"""What a new user meets first: .env.example copied unchanged, placeholder keys, IEX_TOKEN,
and the CLI's help texts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from stockdb.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
NOTICES = "STOCKDB_NOTICES_SHOWN"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NOTICES, "")  # restored after the test
    monkeypatch.delenv("IEX_TOKEN", raising=False)


def test_env_example_copied_unchanged_runs_on_synthetic_data(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(".env").write_text(EXAMPLE.read_text())
    code, out, err = run(capsys, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-05")
    assert code == 0, err
    assert "SYNTHETIC" in err and "sessions fetched 2" in out


def test_placeholder_keys_fail_at_once_with_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uncommented = [
        line.removeprefix("# ")
        for line in EXAMPLE.read_text().splitlines()
        if re.match(r"# ALPACA_API_(KEY_ID|SECRET_KEY)=", line)
    ]
    assert len(uncommented) == 2, "the example should carry both key lines, commented out"
    Path(".env").write_text("\n".join(uncommented) + "\n")
    code, out, err = run(capsys, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-05")
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY" in lines[0]
    assert "placeholder" in lines[0] and "Traceback" not in err
    assert "your-secret-key" not in err  # the value itself is never echoed
    assert not (data_dir / "parquet").exists()  # nothing written


def test_a_real_looking_key_is_not_a_placeholder(data_dir: Path) -> None:
    from stockdb.config import Settings, looks_like_placeholder

    assert Settings(alpaca_key_id="PKQ3N7T2VX8L0ABCD", alpaca_secret_key="zT9k2").has_alpaca_keys
    assert Settings(alpaca_key_id="PKQ3N7T2VX8L0ABCD").placeholder_key_problem() is None
    for value in ("your-key-id", "<your secret>", "changeme", "xxxxxxxx", "REPLACE_ME"):
        assert looks_like_placeholder(value), value


def test_iex_token_alone_is_explained_once(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IEX_TOKEN", "pk_live_0123456789abcdef")
    code, _, err = run(capsys, "symbols")
    assert code == 0
    assert err.count("IEX Cloud shut down") == 1
    assert "ALPACA_API_KEY_ID" in err and "pk_live_0123456789abcdef" not in err
    code, _, err = run(capsys, "symbols")  # the same process tree: said once only
    assert code == 0 and "IEX Cloud" not in err


def test_no_notice_without_iex_token(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "symbols")
    assert code == 0 and "IEX" not in err


def _readme_duckdb_command() -> str:
    readme = (EXAMPLE.parent / "README.md").read_text()
    [line] = [x for x in readme.splitlines() if x.startswith("duckdb data/duckdb/market.duckdb")]
    return line


def test_readme_duckdb_command_works_after_the_first_start(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``make run`` leaves behind (``stockdb up``'s seeding) is browsable with the README's
    own duckdb command, run as written by a shell from the project folder."""
    import os
    import shutil
    import subprocess
    import sys

    from stockdb.app import App
    from stockdb.cli.up import seed
    from stockdb.config import Settings

    app = App(Settings())
    try:
        assert seed(app)
    finally:
        app.close()
    # the README runs from the project folder: data/ is relative to it
    assert data_dir.name == "data"
    monkeypatch.chdir(data_dir.parent)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    assert shutil.which("duckdb", path=env["PATH"]), "duckdb-cli is a dependency"
    done = subprocess.run(  # noqa: S603 - the README's own command line
        ["/bin/sh", "-c", _readme_duckdb_command()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("SPY") == 5, done.stdout


def test_db_shell_runs_sql_on_fresh_views(data_dir: Path) -> None:
    import subprocess
    import sys

    env_bin = Path(sys.executable).parent
    ingest = subprocess.run(  # noqa: S603
        [str(env_bin / "stockdb"), "ingest", "QQQ", "--start", "2024-03-04", "--end", "2024-03-05"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stderr.count("SYNTHETIC") == 1, ingest.stderr  # one warning, not two
    sql = "SELECT count(*) AS n, min(symbol) AS s FROM bars_1min"
    done = subprocess.run(  # noqa: S603
        [str(env_bin / "stockdb"), "db", "shell", "-c", ".mode csv", "-c", sql],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(p).num_rows for p in (data_dir / "parquet").rglob("*.parquet"))
    assert done.stdout.strip().splitlines()[-1] == f"{rows},QQQ"


def _commands() -> list[tuple[list[str], Any]]:
    import typer
    from typer._click import Context
    from typer.core import TyperGroup

    from stockdb.cli.main import _register_subapps, app

    _register_subapps()
    root = typer.main.get_command(app)
    ctx = Context(root)
    out: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        out.append((path, command))
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(root, [])
    return out


def test_every_command_has_a_description_an_example_and_option_help() -> None:
    from typer.core import TyperGroup

    commands = _commands()
    assert len(commands) > 30
    for path, command in commands:
        where = "stockdb " + " ".join(path)
        text = (command.help or "").strip()
        assert text and len(text.splitlines()[0]) > 10, where
        for param in command.params:
            assert getattr(param, "help", None), f"{where}: {param.name} has no help"
        if isinstance(command, TyperGroup):
            continue
        examples = [line.strip() for line in text.splitlines() if line.strip().startswith("Ex")]
        assert examples, f"{where} has no example"
        example = examples[0].removeprefix("Example:").strip()
        assert example.startswith(where), (where, example)
        flags = {opt for p in command.params for opt in getattr(p, "opts", [])}
        flags |= {opt for p in command.params for opt in getattr(p, "secondary_opts", [])}
        for word in example.split():
            if word.startswith("--"):
                assert word in flags, f"{where}: the example uses unknown {word}"
        args = shlex.split(example)[1 + len(path) :]
        try:  # the example parses: arguments, options, values
            command.make_context(where, args)
        except Exception as exc:
            raise AssertionError(f"{where}: {example!r} does not parse: {exc}") from None


def test_jobs_help_names_its_real_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "jobs", "--help")
    assert code == 0
    assert "submit" not in out
    commands = out.split("Commands:")[1].split()
    assert {"list", "show", "cancel", "ingest"} <= set(commands)
    assert "jobs ingest" in out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flag", [None, "--access-log"])
def test_serve_keeps_access_lines_out_of_the_console_unless_asked(
    data_dir: Path, flag: str | None
) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    cmd = [str(Path(sys.executable).parent / "stockdb"), "serve", "--port", str(port)]
    cmd += [flag] if flag else []
    log = data_dir.parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            for _ in range(5):
                httpx.get(f"http://127.0.0.1:{port}/symbols", timeout=5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    console = log.read_text()
    assert "stockdb API ready" in console  # the JSON logs still reach the console
    lines = [x for x in console.splitlines() if '"GET /symbols HTTP/1.1" 200' in x]
    assert len(lines) == (5 if flag else 0), console[-2000:]
