"""Work handed to the worker, enqueued by the task's name.

The pipeline and the poll loop start tasks through here rather than by importing jobs.tasks,
which imports them: imports run one way (tasks -> poller -> retrieval -> enqueue).
"""

from __future__ import annotations

from django_q.tasks import async_task


def submit(job_id: int) -> None:
    async_task("jobs.tasks.submit_job", job_id, group="submit")


def credit_check(wallet_id: int) -> None:
    async_task("jobs.tasks.top_up_if_needed", wallet_id, group="wallet")
