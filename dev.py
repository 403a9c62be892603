#!/usr/bin/env python3
"""Set-up and run in one step: ``python3 dev.py serve`` or ``python3 dev.py test``.

Creates ``.venv`` on first use and re-installs when pyproject.toml or constraints.txt
changes, so a fresh clone needs nothing but Python 3.11+. The versions installed are
the ones in constraints.txt, so a release on the registry cannot change a clean build
(Babel 2.19 once did); ``python3 dev.py lock`` moves them on deliberately.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"
CONSTRAINTS = ROOT / "constraints.txt"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed (this is %d.%d)" % sys.version_info[:2])
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    inputs = (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()
    wanted = hashlib.sha256(inputs).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing dependencies into .venv (first run takes a minute) …", flush=True)
    install(PYTHON, "-c", str(CONSTRAINTS))
    STAMP.write_text(wanted)


def install(python: Path, *options: str) -> None:
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    project = ["-e", f"{ROOT}[test]"]
    subprocess.run([python, "-m", "pip", "install", "-q", *options, *project], check=True)


def lock() -> int:
    """Resolve the newest versions pyproject.toml allows, in a scratch venv, and pin them."""
    with tempfile.TemporaryDirectory() as scratch:
        python = Path(scratch) / "bin" / "python"
        print("resolving the newest allowed versions in a scratch venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(scratch)
        install(python)
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude-editable"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    CONSTRAINTS.write_text(HEADER + frozen)
    print(f"wrote {CONSTRAINTS.name}; run the tests before committing it")
    return 0


HEADER = """\
# Exact versions for .venv, written by `python3 dev.py lock` from the ranges in
# pyproject.toml. CI and every fresh clone install these, so a new release on the
# registry changes nothing until someone runs the lock and the tests pass with it.
"""


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "lock":
        return lock()
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
