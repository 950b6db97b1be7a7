"""The command line's one-line errors and exit codes, apart from the parser so that every
subcommand can raise them without importing `runboard.cli.main`."""

from __future__ import annotations

import importlib.util

EXIT_USAGE = 2  # bad arguments or config
EXIT_FAILED = 1  # the work itself failed (missing data, no such device)
NEEDS_TORCH = "training needs PyTorch: pip install 'runboard[train]'"


class CliError(Exception):
    """An error shown as one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def require_torch() -> None:
    """Refuse in one line, before any import of the training code, where torch is missing
    (`pip install runboard` without the `train` extra: an API-only machine)."""
    if importlib.util.find_spec("torch") is None:
        raise CliError(NEEDS_TORCH)
