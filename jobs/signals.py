"""What jobs tells the layers above it, without importing them."""

from django.dispatch import Signal

# Sent by pipeline.create_job once a job is saved, with `job`, `library_prompt` (the id of
# the shared prompt it was made from, or None) and `library_version` (the id of that prompt's
# version the form carried, or None): the library (studio) counts uses and records the version.
job_created = Signal()

# Sent by the poll loop (jobs.poller) as it hands a due poll to a thread, with `job_id`, `due_at`
# (the time the poll was planned for) and `waited_for_thread_s` (how long it was due with every
# poll thread busy). And when a wallet's rate window postpones a due poll, with `job_id` and
# `seconds`. The polling benchmark reads both to say where its slowest detections come from.
poll_dispatched = Signal()
poll_postponed = Signal()
