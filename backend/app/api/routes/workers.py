"""Workers: their hellos and heartbeats, and the list the Workers page shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from backend.app import crud
from backend.app.api.auth import MemberDep, ReaderDep
from backend.app.api.deps import BODY_ERRORS, SessionDep, SettingsDep, errors
from backend.app.models import WorkerList, WorkerPublic
from worker.schema.messages import WorkerHello

router = APIRouter(tags=["workers"])
HELLO_EXAMPLE = {
    "a GPU worker with CIFAR-100": {
        "value": {
            "name": "runboard-gpu0-4242@gpu-box-1",
            "host": "gpu-box-1",
            "device": "cuda:0",
            "gpu_name": "NVIDIA A100-SXM4-40GB",
            "gpu_memory_mb": 40960,
            "datasets": ["cifar100", "synthetic", "synthetic-easy"],
            "weights": ["resnet18"],
            "version": "0.1.0",
            "run_id": None,
        }
    }
}


@router.get("/workers", dependencies=[ReaderDep])
def list_workers(session: SessionDep, settings: SettingsDep) -> WorkerList:
    """Every worker heard from in the last day (busy with a run, idle, or lost: silent for
    RUNBOARD_HEARTBEAT_TIMEOUT_S), and the queued runs in the order workers take them."""
    return crud.list_workers(session, settings.heartbeat_timeout_s)


@router.post("/workers", responses=errors(*BODY_ERRORS))
def worker_hello(
    data: Annotated[WorkerHello, Body(openapi_examples=HELLO_EXAMPLE)],
    session: SessionDep,
    settings: SettingsDep,
    _: MemberDep,
) -> WorkerPublic:
    """A worker's hello, sent when it starts and every few seconds after as its heartbeat:
    its host, device, GPU, data sets, weights, version and the run it trains."""
    worker = crud.worker_hello(session, data)
    session.commit()
    session.refresh(worker)
    return crud.worker_public(worker, settings.heartbeat_timeout_s)
