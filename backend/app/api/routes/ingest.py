"""Worker ingest: numbered event batches, authenticated by the run's own token."""

from __future__ import annotations

from fastapi import APIRouter

from backend.app import crud
from backend.app.api.deps import BusDep, IngestRunDep, SessionDep
from backend.app.ingest import IngestBatch, IngestReply

router = APIRouter(tags=["ingest"])


@router.post("/runs/{run_id}/events")
def ingest_events(
    batch: IngestBatch, run: IngestRunDep, session: SessionDep, bus: BusDep
) -> IngestReply:
    """Store a batch of worker events. Idempotent: sequence numbers already stored are
    skipped. A gap in the numbers, or events for a finished run, get 409. The reply says
    whether the user asked the run to stop."""
    reply = crud.ingest(session, run, batch)
    session.commit()
    bus.notify()
    return reply
