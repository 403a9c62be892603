#!/usr/bin/env python3
"""Set-up and run in one step: ``python3 dev.py serve`` or ``python3 dev.py test``.

Creates ``.venv`` on first use and re-installs when pyproject.toml changes, so a
fresh clone needs nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed (this is %d.%d)" % sys.version_info[:2])
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing dependencies into .venv (first run takes a minute) …", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    ensure_environment()
    os.chdir(ROOT)
    if command == "serve":
        return subprocess.call([PYTHON, "-m", "bot", "serve", *sys.argv[2:]])
    if command == "test":
        return subprocess.call([PYTHON, "-m", "pytest", *sys.argv[2:]])
    if command == "setup":
        return 0
    return subprocess.call([PYTHON, "-m", "bot", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
