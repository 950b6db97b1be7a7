"""Errors crud raises; the app maps them to HTTP statuses (404, 409)."""


class NotFound(LookupError):
    """An id that does not exist: 404."""


class Conflict(RuntimeError):
    """A change the run's current state does not allow: 409."""
