"""Graceful shutdown: ``serve`` and ``worker`` stop cleanly on SIGTERM (exit code 0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(command: str, tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shutdown.db'}",
        "PORT": str(port),
        "SEED_DEMO": "false",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("API_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(check: object, process: subprocess.Popen[str], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"not ready: {process.communicate()[0]}")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"did not stop on SIGTERM: {process.communicate()[0]}")
    return process.returncode, output


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = start("serve", tmp_path, port)
    wait_for(lambda: healthy(port), process)
    code, output = stop(process)
    assert code == 0, output
    assert "Traceback" not in output
    assert not healthy(port)  # no longer taking requests


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = start("worker", tmp_path, free_port())
    assert process.stdout is not None
    lines: list[str] = []

    def running() -> bool:
        line = process.stdout.readline() if process.stdout else ""
        lines.append(line)
        return "worker running" in line

    wait_for(running, process)
    code, output = stop(process)
    assert code == 0, "".join(lines) + output
    assert "Traceback" not in output
