"""The API process stays light: importing it and creating the app loads no torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_creating_the_app_imports_no_torch(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys

        from backend.app.core.config import Settings
        from backend.app.main import create_app

        app = create_app(Settings(database_url=sys.argv[1]))  # the default dispatcher too
        assert app.state.engine is not None
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision"})
        assert not heavy, heavy
        assert "worker.core" not in sys.modules
        print("ok")
        """
    )
    env = {
        **os.environ,
        "RUNBOARD_BROKER_DB": str(tmp_path / "broker.sqlite"),
        "PYTHONPATH": str(REPO),
    }

    result = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'runboard.db'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
