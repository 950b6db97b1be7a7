"""`runboard submit`: queue a run through the REST API, optionally follow it to the end.

Plain HTTP (httpx); no torch. `--wait` reads the run's Server-Sent Events stream and, if
the connection drops, reconnects with Last-Event-ID so that no event is missed or repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from runboard.cli.errors import CliError
from worker.schema.events import metric_points
from worker.schema.runconfig import parse_assignment

EXIT_BY_STATUS = {"succeeded": 0, "failed": 1, "cancelled": 3}
FINAL = set(EXIT_BY_STATUS)


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str


def iter_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Parse text/event-stream lines into events, as a browser's EventSource does."""
    event_id: str | None = None
    kind, data = "message", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event_id, kind, "\n".join(data))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id":
            event_id = value


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _explain(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query")]
            parts.append(f"{'.'.join(loc) or 'request'}: {item.get('msg')}")
        return "; ".join(parts)
    return f"HTTP {response.status_code}: {detail}"


def submit_run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = dict(parse_assignment(text) for text in args.overrides)
    body: dict[str, Any] = {"preset": args.preset, "overrides": overrides, "tags": args.tag}
    if args.name:
        body["name"] = args.name
    token = args.token or os.environ.get("RUNBOARD_API_TOKEN")
    url = args.url.rstrip("/")
    try:
        response = httpx.post(f"{url}/api/runs", json=body, headers=_headers(token), timeout=30)
    except httpx.TransportError as exc:
        message = f"cannot reach the API at {url} ({exc}); is `runboard serve` running?"
        raise CliError(message) from None
    if response.status_code != 201:
        code = 2 if response.status_code == 422 else 1
        raise CliError(_explain(response), code)
    run = response.json()
    print(run["id"], flush=True)  # at once: with --wait, scripts read it while the run goes on
    print(f"queued run {run['id']}: {run['name']}", file=sys.stderr)
    if not args.wait:
        return 0
    return EXIT_BY_STATUS[follow(url, run["id"], token)]


def follow(url: str, run_id: int, token: str | None) -> str:
    """Print the run's epochs as they arrive; return its final status."""
    last_id: str | None = None
    headers = _headers(token)
    while True:
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            with httpx.stream(
                "GET", f"{url}/api/runs/{run_id}/stream", headers=headers, timeout=None
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise CliError(_explain(response))
                for event in iter_sse(response.iter_lines()):
                    last_id = event.id or last_id
                    status = _show(event)
                    if status in FINAL:
                        return status
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            print(f"stream dropped ({exc}); reconnecting", file=sys.stderr)
            time.sleep(1)


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
