"""A run's lifecycle: its status, and why it failed. Torch-free, shared by API and worker."""

from __future__ import annotations

import enum


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE = (RunStatus.queued, RunStatus.running)
FINISHED = (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled)


class FailureReason(enum.StrEnum):
    """Why a `failed` run failed; only `worker_lost` runs may be revived by a new claim."""

    error = "error"  # training raised: a bug, out of memory, a diverged run
    user_error = "user_error"  # something the user can fix: data folder, weights, device
    worker_lost = "worker_lost"  # the worker went silent (killed, cut off): resumable
