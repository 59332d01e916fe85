"""The request id: taken from the proxy's X-Request-ID when it is a plain token, else made
here; bound to every log line of the request and echoed in the response."""

from __future__ import annotations

import re
import uuid

from .logs import bound

_TOKEN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.id = given if _TOKEN.match(given) else uuid.uuid4().hex
        with bound(request_id=request.id):
            response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response
