"""`runboard submit`: queue a run through the REST API, optionally follow it to the end.

Plain HTTP through worker.client; no torch. `--wait` reads the run's Server-Sent Events
stream and, if the connection drops, reconnects with Last-Event-ID so that no event is
missed or repeated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

import stamina

from runboard.cli.errors import CliError
from worker.client import ApiClient, ApiError, SseEvent, TransientError
from worker.config import worker_settings
from worker.schema.events import metric_points
from worker.schema.runconfig import parse_assignment

EXIT_BY_STATUS = {"succeeded": 0, "failed": 1, "cancelled": 3}
FINAL = set(EXIT_BY_STATUS)
RECONNECT_WAIT_S = 1.0  # between a dropped stream and the next try, for as long as it takes


def submit_run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = dict(parse_assignment(text) for text in args.overrides)
    body: dict[str, Any] = {"preset": args.preset, "overrides": overrides, "tags": args.tag}
    if args.name:
        body["name"] = args.name
    settings = worker_settings()
    token = args.token or settings.api_token
    url = (args.url or settings.api_url).rstrip("/")
    with ApiClient(url, token) as api:
        try:
            run = api.create_run(body)
        except ApiError as exc:
            if exc.status_code is None:  # no answer at all
                raise CliError(f"{exc}; is `runboard serve` running?") from None
            raise CliError(str(exc), 2 if exc.status_code == 422 else 1) from None
        print(run["id"], flush=True)  # at once: with --wait, scripts read it while it runs
        print(f"queued run {run['id']}: {run['name']}", file=sys.stderr)
        if not args.wait:
            return 0
        return EXIT_BY_STATUS[follow(api, run["id"])]


def follow(api: ApiClient, run_id: int) -> str:
    """Print the run's epochs as they arrive; return its final status. A stream that
    drops or ends early is opened again from the last event seen, as often as it takes;
    a refusal (the run was deleted, say) is one CliError line."""
    last_id: str | None = None
    retries = stamina.retry_context(
        on=TransientError,
        attempts=None,
        timeout=None,
        wait_initial=RECONNECT_WAIT_S,
        wait_max=RECONNECT_WAIT_S,
        wait_jitter=0.0,
    )
    try:
        for attempt in retries:
            with attempt:
                try:
                    with contextlib.closing(api.follow(run_id, last_id)) as events:
                        for event in events:
                            last_id = event.id or last_id
                            status = _show(event)
                            if status in FINAL:
                                return status
                    raise TransientError("the API closed the stream")
                except TransientError as exc:
                    print(f"stream dropped ({exc}); reconnecting", file=sys.stderr)
                    raise
    except ApiError as exc:
        raise CliError(str(exc)) from None
    raise AssertionError("unreachable: the retries end with a status or an error")


def _show(event: SseEvent) -> str | None:
    data = json.loads(event.data)
    if event.event == "metrics":
        epochs: dict[int, dict[str, float]] = {}
        for point in metric_points(data):
            if point["name"] != "batch_loss" and point["value"] is not None:
                epochs.setdefault(point["epoch"], {})[point["name"]] = point["value"]
        for epoch, metrics in sorted(epochs.items()):
            shown = "  ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
            print(f"epoch {epoch}: {shown}", file=sys.stderr)
        return None
    if event.event == "status":
        print(f"status: {data['status']}", file=sys.stderr)
        if data["status"] == "failed" and data.get("error"):
            print(f"error: {data['error']}", file=sys.stderr)
        return str(data["status"])
    return None
