"""How every failure of the API is answered: one JSON shape, one status per kind of failure.

``create_app`` installs these handlers. A ``ShipyardError`` answers its own ``to_json`` and
status; a request FastAPI could not validate (body, path or query) answers 422 naming the
field; a route that does not exist 404, a method it does not take 405, a body over its limit
413; anything else 500 with a generic message: the exception and its traceback go to the
server's log only, never into the answer.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from shipyard.errors import InputError, NotFoundError, ShipyardError, TooLargeError

log = logging.getLogger("shipyard.server")


def answer(exc: ShipyardError, status: int | None = None) -> JSONResponse:
    body = exc.to_json()
    if status is not None:
        body["status"] = status
    return JSONResponse(body, status_code=int(str(body["status"])))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShipyardError)
    async def _shipyard_error(_req: Request, exc: ShipyardError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        error = InputError(f"{where}: {first['msg']}", "see GET /openapi.json for the request's shape")
        return answer(error, 422)

    @app.exception_handler(HTTPException)
    async def _http(req: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            missing = NotFoundError(f"no route {req.method} {req.url.path}", "see GET /openapi.json")
            return answer(missing)
        if exc.status_code == 413:
            return answer(TooLargeError(str(exc.detail), "send less in one request"))
        hint = "see GET /openapi.json for the routes and their methods"
        return answer(ShipyardError(f"{req.method} {req.url.path}: {exc.detail}", hint), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", req.method, req.url.path, exc_info=exc)
        error = ShipyardError(
            "the control plane failed on this request (an internal error; nothing about it is shown here)",
            "see <home>/server.log for the details, and report it if it happens again",
        )
        return answer(error, 500)
