"""Helpers every test folder shares: a live API server, a fake worker, an SSE reader."""
