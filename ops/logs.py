"""Log context and the JSON format (``LOG_FORMAT=json``).

Every line says which request, job and wallet it is about: a middleware binds the request id,
the worker binds the job and its wallet, and a filter copies them onto each record. The
context holds only ids and the wallet's name: never a key, a header or a body.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

FIELDS = ("request_id", "job_id", "wallet")
_context: dict[str, contextvars.ContextVar] = {
    name: contextvars.ContextVar(name, default=None) for name in FIELDS
}


@contextlib.contextmanager
def bound(**values) -> Iterator[None]:
    """Within the block, every log line carries these values (request_id, job_id, wallet)."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict:
    return {name: var.get() for name, var in _context.items() if var.get() is not None}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        if record.request_id is None:
            # django.request logs an error response after the middleware has returned; its
            # record carries the request, and the request its id.
            record.request_id = getattr(getattr(record, "request", None), "id", None)
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: time, level, logger, message, the context ids, and the
    exception's traceback when there is one."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault(
            "fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"
        )
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level"})
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is None:
                log_data.pop(name, None)
            else:
                log_data[name] = value
