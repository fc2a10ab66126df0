"""Fixtures for the browser tests: a JupyterLab server on a free loopback port and headless Chromium.

The server serves a temporary copy of ``notebooks/`` so JupyterLab's autosave never writes outputs into the
repository. Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package; Playwright's own
browser download is never used. Without Chromium or Playwright the tests skip, unless
``SEGLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEGLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _missing_browser_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (Debian package 'chromium')"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package 'playwright' is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser_available():
    reason = _missing_browser_reason()
    if reason:
        if os.environ.get("SEGLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SEGLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_server(browser_available, tmp_path_factory):
    """Start JupyterLab; yield (base_url, token, notebook_dir); stop it by its PID."""
    workdir = tmp_path_factory.mktemp("lab")
    notebooks = workdir / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "SEGLAB_QUICK": os.environ.get("SEGLAB_QUICK", "1"),
        "SEGLAB_CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"),
        "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
    }
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--notebook-dir={notebooks}", "--ServerApp.port_retries=0",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(workdir / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError as err:
                if proc.poll() is not None or time.time() > deadline:
                    log = (workdir / "server.log").read_text()[-3000:]
                    raise RuntimeError(f"JupyterLab did not start; log: {log}") from err
                time.sleep(0.5)
        yield base, token, notebooks
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def browser(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory):
    path = Path(os.environ.get("SEGLAB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
