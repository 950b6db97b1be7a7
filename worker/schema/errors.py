"""Errors a user can act on: shown as one line (CLI) or a 4xx body (API), never a traceback.

Torch-free, so that catching them imports nothing heavy.
"""


class UserError(Exception):
    """Something the user can fix; `exit_code` is what the CLI exits with."""

    exit_code = 1


class InvalidInputError(UserError, ValueError):
    """Bad arguments, config values or ids: refused before any work."""

    exit_code = 2
