"""`runboard worker`: a Celery worker that trains one run at a time.

The solo pool runs the task in the worker's main process: torch and fork do not mix, and a
GPU is best owned by one process. `--gpu N` pins the worker to one GPU before torch loads.
"""

from __future__ import annotations

import os
import socket

from worker.schema.broker import TRAIN_QUEUE


def run_worker(gpu: int | None = None, queues: str = TRAIN_QUEUE, name: str | None = None) -> int:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    from worker.celery_app import celery_app

    label = f"gpu{gpu}" if gpu is not None else "cpu"
    node = name or f"runboard-{label}-{os.getpid()}@{socket.gethostname()}"
    celery_app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--queues={queues}",
            f"--hostname={node}",
        ]
    )
    return 0
