"""Every error the analyzer answers is one line of JSON, ``{"detail": msg, "error": msg}``.

A user's mistake (SpacelensError) is its message and fix; a bad parameter is one sentence
naming it; anything unexpected is "internal error, see the server log", with the traceback
written to the server's log only. No Python internals ever reach the client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from spacelens.errors import NotFoundError, SpacelensError
from spacelens.views.data import Missing
from spacelens.server.jobs import GENERIC_ERROR, TooManyJobs

log = logging.getLogger("spacelens.server")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_response(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    message = one_line(message)
    return JSONResponse({"detail": message, "error": message, **extra}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "Bad request"
    e = errors[0]
    loc = [str(p) for p in e.get("loc", ())]
    where, name = (loc[0], loc[-1]) if loc else ("request", "")
    if where == "body":
        if e.get("type") == "missing":
            return "The request needs a JSON body"
        return "The request body must be a JSON object"
    given = e.get("input")
    shown = f" (got {str(given)[:40]!r})" if given is not None and not isinstance(given, dict) else ""
    kind = {"query": "Query parameter", "path": "Path part", "header": "Header", "cookie": "Cookie"}.get(where, where)
    return f"{kind} {name!r}: {e.get('msg', 'invalid value')}{shown}"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(Missing)
    def _missing(request: Request, exc: Missing):
        return error_response(404, exc.message, missing=exc.job)

    @app.exception_handler(TooManyJobs)
    def _too_many(request: Request, exc: TooManyJobs):
        return error_response(429, exc.message)

    @app.exception_handler(NotFoundError)
    def _not_found(request: Request, exc: NotFoundError):
        return error_response(404, exc.message)

    @app.exception_handler(SpacelensError)
    def _bad_request(request: Request, exc: SpacelensError):
        return error_response(400, exc.message)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError):
        return error_response(400, _validation_message(exc))

    @app.exception_handler(HTTPException)
    def _http(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "Bad request"
        return error_response(exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, GENERIC_ERROR)
