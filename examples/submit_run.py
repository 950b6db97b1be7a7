"""Submit a run to the runboard API and follow it live, with the standard library only.

    python examples/submit_run.py [BASE_URL]

BASE_URL defaults to $RUNBOARD_API_URL, else http://127.0.0.1:8000. When the server has an API
token, put it in $RUNBOARD_API_TOKEN. The run trains once a worker takes it (`runboard
serve` starts one); meanwhile this script waits, then prints each epoch's test accuracy.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

PRESET = "2"  # the template's CNN
OVERRIDES = {"dataset": "synthetic", "epochs": 3, "lr": 0.001}
FINISHED = {"succeeded", "failed", "cancelled"}


def submit(base_url: str, headers: dict[str, str]) -> int:
    """POST /api/runs: the preset with our overrides, queued. Returns the new run's id."""
    body = json.dumps({"preset": PRESET, "overrides": OVERRIDES, "tags": ["example"]})
    request = urllib.request.Request(
        f"{base_url}/api/runs",
        data=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        run: dict[str, Any] = json.load(response)
    return int(run["id"])


def events(base_url: str, run_id: int, headers: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """The run's Server-Sent Events as (event, data): its history first, then live.

    An event is a block of `field: value` lines ended by a blank line; lines starting with
    a colon are keep-alive comments.
    """
    url = f"{base_url}/api/runs/{run_id}/stream"
    request = urllib.request.Request(url, headers={**headers, "Accept": "text/event-stream"})
    # Idle streams get a keep-alive every 15 s, so a read that waits 60 s means a dead server.
    with urllib.request.urlopen(request, timeout=60) as response:
        kind = "message"  # the event's name...
        data: list[str] = []  # ...and its data lines
        for raw in response:
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:  # end of an event
                if data:
                    yield kind, json.loads("\n".join(data))
                kind, data = "message", []
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                if field == "event":
                    kind = value.strip()
                elif field == "data":
                    data.append(value.removeprefix(" "))


def main() -> int:
    default_url = os.environ.get("RUNBOARD_API_URL", "http://127.0.0.1:8000")
    base_url = (sys.argv[1] if len(sys.argv) > 1 else default_url).rstrip("/")
    token = os.environ.get("RUNBOARD_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    try:
        run_id = submit(base_url, headers)
    except urllib.error.HTTPError as error:  # e.g. 401 (token) or 422 (a bad override)
        print(f"refused: HTTP {error.code} {error.read().decode()}", file=sys.stderr)
        return 1
    print(f"run {run_id} queued", flush=True)

    for kind, data in events(base_url, run_id, headers):
        if kind == "metrics":  # new metric points; one test_acc point per finished epoch
            # columns per metric name: {"series": {"test_acc": {"epoch": [..], "value": [..]}}}
            accuracy = data["series"].get("test_acc", {"epoch": [], "value": []})
            for epoch, value in zip(accuracy["epoch"], accuracy["value"], strict=True):
                if value is not None:
                    print(f"epoch {epoch}: test accuracy {value:.1%}", flush=True)
        elif kind == "status" and data["status"] in FINISHED:
            print(f"run {run_id} {data['status']}", flush=True)
            return 0 if data["status"] == "succeeded" else 1
    return 1  # the stream ended before the run did


if __name__ == "__main__":
    sys.exit(main())
