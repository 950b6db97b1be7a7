"""Worker ingest: numbered event batches, authenticated by the run's own token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from backend.app import crud
from backend.app.api.deps import BODY_ERRORS, BusDep, IngestRunDep, SessionDep, SettingsDep, errors
from backend.app.contract import ingest_description
from worker.schema.messages import ClaimReply, ClaimRequest, IngestBatch, IngestReply

router = APIRouter(tags=["ingest"])
CLAIM_EXAMPLE = {"a worker takes the run": {"value": {"worker_host": "gpu-box-1"}}}
EVENTS_EXAMPLE = {
    "training starts": {
        "value": {
            "attempt": 1,
            "events": [
                {
                    "seq": 1,
                    "time": 1767225600.0,
                    "kind": "status",
                    "data": {"status": "running", "worker_host": "gpu-box-1"},
                },
                {"seq": 2, "time": 1767225601.5, "kind": "heartbeat", "data": {}},
            ],
        }
    }
}


@router.post(
    "/runs/{run_id}/events",
    responses=errors(401, 404, 409, *BODY_ERRORS),
    description="Store a batch of worker events. Idempotent: sequence numbers already stored "
    "are skipped. A gap in the numbers, or events for a finished run, get 409. The reply "
    "says whether the user asked the run to stop.\n\n" + ingest_description(),
)
def ingest_events(
    batch: Annotated[IngestBatch, Body(openapi_examples=EVENTS_EXAMPLE)],
    run: IngestRunDep,
    session: SessionDep,
    bus: BusDep,
) -> IngestReply:
    """Store a batch of worker events. Idempotent: sequence numbers already stored are
    skipped. A gap in the numbers, or events for a finished run, get 409. The reply says
    whether the user asked the run to stop."""
    reply = crud.ingest(session, run, batch)
    session.commit()
    bus.notify()
    return reply


@router.post("/runs/{run_id}/claim", responses=errors(401, 404, 409, *BODY_ERRORS))
def claim_run(
    data: Annotated[ClaimRequest, Body(openapi_examples=CLAIM_EXAMPLE)],
    run: IngestRunDep,
    session: SessionDep,
    settings: SettingsDep,
    bus: BusDep,
) -> ClaimReply:
    """A worker takes the run before training it. 409 when it is cancelled, finished, or
    alive on another worker; the reply gives the sequence number to continue from."""
    reply = crud.claim(session, run, data.worker_host, settings.heartbeat_timeout_s)
    session.commit()
    bus.notify()
    return reply
