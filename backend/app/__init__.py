"""FastAPI application: REST under /api, Server-Sent Events, the static frontend."""
