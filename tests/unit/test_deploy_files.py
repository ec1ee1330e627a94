"""The deployment files agree with the package: compose services, ports and commands, the
Dockerfile's stages, user, health check and start command, the devcontainer, the lock file.

No Docker engine runs here, so the image's start command and health check are run directly
on the host (on a free loopback port) instead of inside a container.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stockdb.cli.main import _register_subapps, main
from stockdb.cli.main import app as cli_app

ROOT = Path(__file__).resolve().parents[2]
STOCKDB_SERVICES = ("api", "worker", "ui", "feature_builder")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def cli_command(args: list[str]) -> Any:
    """Parse ``stockdb ARGS`` with the real CLI (no command runs); returns the click context.

    Raises the CLI's usage error for an unknown option or a bad value."""
    _register_subapps()
    root: Any = typer.main.get_command(cli_app)
    sub = root.get_command(None, args[0])
    assert sub is not None, f"stockdb has no {args[0]!r} command"
    return sub.make_context(args[0], list(args[1:]))


# ---- docker-compose.yml ----------------------------------------------------------------------
def test_compose_names_every_service_on_the_named_volume() -> None:
    services = compose()["services"]
    assert {"api", "worker", "ui", "redis", "feature_builder"} <= set(services)
    assert "stockdb-data" in compose()["volumes"]
    for name in STOCKDB_SERVICES:
        svc = services[name]
        assert "stockdb-data:/data" in svc["volumes"], name
        assert svc["environment"]["STOCKDB_DATA_DIR"] == "/data"
        assert svc["environment"]["STOCKDB_QUEUE_URL"] == "redis://redis:6379/0"
        assert svc["env_file"] == [{"path": ".env", "required": False}]
        assert svc["build"]["context"] == "."
    assert services["redis"]["image"].startswith("redis:")


def test_compose_ports_and_dependencies() -> None:
    services = compose()["services"]
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["ui"]["ports"] == ["8501:8501"]
    assert "ports" not in services["worker"]
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("api", "worker", "feature_builder"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_commands_parse_with_the_real_cli() -> None:
    services = compose()["services"]
    api = cli_command(services["api"]["command"][1:]).params
    assert (api["host"], api["port"]) == ("0.0.0.0", 8000)
    ui = cli_command(services["ui"]["command"][1:]).params
    assert (ui["api_url"], ui["host"], ui["port"]) == ("http://api:8000", "0.0.0.0", 8501)
    assert services["worker"]["command"] == ["stockdb", "worker"]
    cli_command(["worker"])
    assert services["feature_builder"]["command"][:3] == ["python", "-m", "feature_service.main"]
    with pytest.raises(Exception, match="No such option"):
        cli_command(["serve", "--no-such-option"])


@pytest.mark.parametrize("command", ["serve", "worker", "ui"])
def test_compose_subcommands_answer_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert re.search(rf"^Usage: .* {command} \[OPTIONS\]", capsys.readouterr().out, re.M)


def test_compose_entry_points_are_the_package_console_scripts() -> None:
    scripts = pyproject()["project"]["scripts"]
    assert scripts == {"stockdb": "stockdb.cli.main:run"}
    services = compose()["services"]
    for name in ("api", "worker", "ui"):
        assert services[name]["command"][0] in scripts


def test_feature_builder_command_runs_from_the_image_folder(tmp_path: Path) -> None:
    """What ``docker-compose run --rm feature_builder python -m feature_service.main SPY``
    runs, with the image's PYTHONPATH (the repository root holds the same folders)."""
    command = compose()["services"]["feature_builder"]["command"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STOCKDB_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, *command[1:], "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "python -m feature_service.main" in done.stdout


# ---- Dockerfile ---------------------------------------------------------------------------------
def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    args = dict(a.split("=", 1) for a in instructions("ARG") if "=" in a)
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", args["PYTHON_IMAGE"])
    stages = instructions("FROM")
    assert len(stages) >= 2 and all(" AS " in s.upper() for s in stages)
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    run = " ".join(instructions("RUN"))
    assert "pip install -r requirements.lock" in run
    assert "pip install --no-deps ." in run
    copied = " ".join(instructions("COPY"))
    for path in ("requirements.lock", "src", "feature_service", "app"):
        assert path in copied
        assert (ROOT / path).exists()


def test_dockerfile_start_command_is_the_compose_api_command() -> None:
    cmd = json.loads(instructions("CMD")[-1])
    assert cmd == compose()["services"]["api"]["command"]
    assert "/health" in instructions("HEALTHCHECK")[-1]
    exposed = " ".join(instructions("EXPOSE")).split()
    assert {"8000", "8501"} <= set(exposed)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_image_start_command_serves_and_passes_its_health_check(tmp_path: Path) -> None:
    """Run the Dockerfile's CMD and HEALTHCHECK as written, on loopback and a free port."""
    port = str(_free_port())
    cmd = json.loads(instructions("CMD")[-1])
    cmd = [port if a == "8000" else "127.0.0.1" if a == "0.0.0.0" else a for a in cmd]
    check = json.loads(instructions("HEALTHCHECK")[-1].split("CMD", 1)[1].strip())
    check = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in check]
    assert check[0] == "python"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_", "STOCKDB_"))
    }
    env["STOCKDB_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        import time

        deadline = time.monotonic() + 60
        ok = False
        while time.monotonic() < deadline and server.poll() is None:
            probe = subprocess.run(
                [sys.executable, *check[1:]], env=env, capture_output=True, timeout=30, check=False
            )
            if probe.returncode == 0:
                ok = True
                break
            time.sleep(0.2)  # polling a starting server: no event to wait on
        assert ok, f"health check never passed: {shlex.join(cmd)}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()


# ---- .dockerignore, devcontainer, requirements.lock -----------------------------------------
def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    lines = {ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "data", ".git"} <= lines
    assert not {"src", "requirements.lock", "pyproject.toml"} & lines


def test_devcontainer_for_codespaces() -> None:
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert "ubuntu-24.04" in config["image"]
    version = config["features"]["ghcr.io/devcontainers/features/python:1"]["version"]
    assert tuple(int(x) for x in version.split(".")[:2]) >= (3, 11)
    assert "pip install -e" in config["postCreateCommand"]
    assert config["forwardPorts"] == [8000, 8501]


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_runtime_dependency_and_no_dev_tool() -> None:
    pins = _lock()
    project = pyproject()["project"]
    for raw in project["dependencies"]:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} missing from requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), raw
        for extra in req.extras:  # psycopg[binary] needs psycopg-binary
            assert canonicalize_name(f"{req.name}-{extra}") in pins
    for raw in project["optional-dependencies"]["dev"]:
        assert canonicalize_name(Requirement(raw).name) not in pins, raw
