"""Studio's WSGI application for the web benchmark, plus `/bench/noop`, an empty 204 answered
before Django: the same gunicorn, load generator and loopback, without Studio's work. Its
requests/s, measured in the same run, is the ceiling Studio's figures are compared with.

    gunicorn bench.wsgi:application
"""

from studio.wsgi import application as studio

NOOP_PATH = "/bench/noop"


def application(environ, start_response):
    if environ.get("PATH_INFO") == NOOP_PATH:
        start_response("204 No Content", [])
        return [b""]
    return studio(environ, start_response)
