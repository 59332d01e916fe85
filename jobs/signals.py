"""What jobs tells the layers above it, without importing them."""

from django.dispatch import Signal

# Sent by pipeline.create_job once a job is saved, with `job` and `library_prompt` (the id of
# the shared prompt it was made from, or None): the library (studio) counts its uses from it.
job_created = Signal()
