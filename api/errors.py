"""The API's errors and their HTTP codes: one table, like ``gis.errors.EXIT_CODES`` for the CLI.

Every exception class of the API is here (the store's, the proposals', the requests'), so this
module imports nothing from ``api``: the store, the routes and the CLI all import it.
Every error answers ``{"code": <error name>, "description": <message>}`` (OGC API style) and
never a traceback; unexpected exceptions are logged and answered with a 500 and a generic message.

>>> status_code(NotFoundError("no layer"))
404
>>> status_code(RuleSetError("unknown rule set"))
400
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.errors import EditError, InputError, OutputError, RuleSetError, WanggeError

log = logging.getLogger("wangge.api")


class StoreError(WanggeError):
    """The database could not be reached or used."""


class NotFoundError(StoreError):
    """No such layer or feature in the stored city."""


class EmptyStoreError(NotFoundError):
    """No city has been loaded into the store yet."""


class ConflictError(StoreError):
    """The request names more than one thing (a code shared by several features)."""


class StaleError(ConflictError):
    """A change was prepared against a city version that is no longer the newest."""


class InvalidParameterError(WanggeError):
    """A query parameter the API cannot use (bbox, limit, offset, rules)."""


class AuthenticationError(WanggeError):
    """No valid credentials: a missing, expired or forged token, or a wrong password."""


class ForbiddenError(WanggeError):
    """The user is known but their role or street does not allow this."""


class PayloadTooLargeError(WanggeError):
    """A request body above ``settings.max_upload_bytes``."""


class ProposalError(InvalidParameterError):
    """A proposal that cannot be used: bad GeoJSON, a unit outside its street, unknown codes…"""


#: HTTP status of each error class; the most specific class in the exception's MRO wins.
DEFAULT_STATUS_CODES: dict[type[Exception], int] = {
    InvalidParameterError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    PayloadTooLargeError: 413,
    RuleSetError: 400,
    EditError: 400,
    InputError: 400,
    OutputError: 500,
    NotFoundError: 404,
    EmptyStoreError: 404,
    ConflictError: 409,
    StoreError: 503,
    WanggeError: 500,
}


def status_code(error: Exception, table: dict[type[Exception], int] = DEFAULT_STATUS_CODES) -> int:
    """The HTTP status of ``error`` (most specific class wins; 500 if none matches)."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return 500


def _body(code: str, description: str) -> dict:
    return {"code": code, "description": description}


def add_exception_handlers(app: FastAPI, table: dict[type[Exception], int] = DEFAULT_STATUS_CODES) -> None:
    """Answer domain errors, bad parameters and unknown routes with JSON messages."""

    async def domain(request: Request, exc: WanggeError):
        status = status_code(exc, table)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(_body(type(exc).__name__, str(exc)), status_code=status, headers=headers)

    async def validation(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {e.get('msg')}" + (f" (got {e['input']!r})" if "input" in e else ""))
        return JSONResponse(_body("InvalidParameterValue", "; ".join(problems)), status_code=400)

    async def http(request: Request, exc: StarletteHTTPException):
        code = {401: "AuthenticationError", 403: "ForbiddenError", 404: "NotFound",
                405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(_body("InternalError", "internal error; the server log has the details"),
                            status_code=500)

    app.add_exception_handler(WanggeError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)
