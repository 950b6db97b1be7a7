"""`pip install .` without extras, in a fresh virtual environment, from a copy of the tree:
no torch, yet `runboard serve` serves the dashboard (from the wheel, not the checkout) and
the API, and `runboard worker` says in one line that training needs `runboard[train]`.

pip fetches the dependencies from its cache or PyPI: minutes, hence `slow`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runboard.cli.errors import NEEDS_TORCH
from tests.support.live import clean_env, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[1]
# What is not source: caches, environments, build output, run data.
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache", "node_modules"
)
START_TIMEOUT_S = 60.0


def run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]


def test_pip_install_without_extras_serves_the_api_and_refuses_to_train(tmp_path: Path) -> None:
    tree, venv, home = tmp_path / "tree", tmp_path / "venv", tmp_path / "home"
    shutil.copytree(ROOT, tree, ignore=IGNORE, symlinks=True)
    home.mkdir()
    # Nothing of this checkout or the test's own environment may leak in: only the venv.
    env = {k: v for k, v in clean_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    created = run(sys.executable, "-m", "venv", venv, env=env, timeout=300)
    assert created.returncode == 0, created.stderr
    python, runboard = venv / "bin" / "python", venv / "bin" / "runboard"

    clock = time.monotonic()
    installed = run(python, "-m", "pip", "install", "--quiet", tree, env=env, timeout=900)
    print(f"\npip install . took {time.monotonic() - clock:.0f} s")
    assert installed.returncode == 0, installed.stderr[-4000:]
    torch = run(python, "-c", "import importlib.util as u; print(u.find_spec('torch'))", env=env)
    assert torch.stdout.strip() == "None", "`pip install .` brought torch"

    port = free_port()
    serve_env = {
        **env,
        "RUNBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'runboard.db'}",
        "RUNBOARD_BROKER_DB": str(tmp_path / "broker.sqlite"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [runboard, "serve", "--no-worker", "--port", str(port)],
            cwd=home,  # no frontend/ here: the dashboard must come from the installed package
            env=serve_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, f"serve exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"serve did not answer:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        home_page = httpx.get(f"{base}/", timeout=10)
        assert home_page.status_code == 200, home_page.text
        assert '<script type="module" src="/js/app.js">' in home_page.text
        assert httpx.get(f"{base}/js/app.js", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/health", timeout=10).status_code == 200
        presets = httpx.get(f"{base}/api/presets", timeout=10)
        assert presets.status_code == 200 and len(presets.json()) == 12
    finally:
        server.terminate()
        server.wait(30)

    worker = run(runboard, "worker", cwd=home, env=serve_env, timeout=120)
    assert worker.returncode == 1, worker.stderr
    assert worker.stderr == f"runboard: error: {NEEDS_TORCH}\n"
    assert worker.stdout == ""
    assert os.listdir(home) == []  # refused before any work

    presets = run(runboard, "presets", cwd=home, env=serve_env, timeout=120)
    assert presets.returncode == 0, presets.stderr
    assert "4,647,524" in presets.stdout  # point 2's parameters, counted without torch
