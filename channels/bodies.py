"""What Rasa's and the action server's Sanic apps do with a body before any endpoint reads it.

Both answer a body that is not JSON, or not the object an endpoint reads,
with a 500 ("unexpected error") after reading it; the action server also
inflates a ``Content-Encoding: deflate`` body without a limit (a small
request could expand to gigabytes) and turns Sanic's own 413 into a 500.
``refuse_malformed_json`` (a request middleware) and ``client_errors_kept``
(an exception handler) stop all of that up front. Only Sanic is imported
here, so the action server can use it without loading Rasa.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from sanic import response
from sanic.exceptions import PayloadTooLarge, SanicException
from sanic.request import Request
from sanic.response import HTTPResponse


def _refuse(status: int, message: str) -> HTTPResponse:
    return response.json({"status": "failure", "reason": "BadRequest", "message": message}, status)


def inflated(request: Request, limit: int) -> bytes:
    """The body, inflated when it says ``Content-Encoding: deflate``; 413 past ``limit`` bytes either way."""
    if request.headers.get("Content-Encoding") != "deflate":
        return request.body
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(request.body, limit + 1)
    except zlib.error as exc:
        raise SanicException(f"the body is not deflate data: {exc}", status_code=400) from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the inflated body is over {limit} bytes")
    return body


def refuse_malformed_json(limit: int, api: bool = True) -> Any:
    """A request middleware: 400 for a JSON body that is not JSON, or (``api``: outside ``/webhooks/``)
    not a JSON object (``/tracker/events`` also takes a non-empty list); 413 for an inflated body over
    ``limit``. Channels that take other bodies (forms, a provider's JSON) check their own."""

    async def check(request: Request) -> HTTPResponse | None:
        if request.method not in ("POST", "PUT", "PATCH") or not request.body:
            return None
        if "json" not in (request.content_type or "") and request.headers.get("Content-Encoding") != "deflate":
            return None
        try:
            body = json.loads(inflated(request, limit))
        except SanicException as exc:
            return _refuse(exc.status_code, str(exc))
        except ValueError:
            return _refuse(400, "the body is not JSON")
        if request.headers.get("Content-Encoding") != "deflate":
            request.parsed_json = body  # what ``request.json`` returns: the handler does not parse it again
        if not api or request.path.startswith("/webhooks/"):
            return None
        events = request.path.rstrip("/").endswith("/tracker/events") and isinstance(body, list) and bool(body)
        if not isinstance(body, dict) and not events:
            return _refuse(400, "send a JSON object (or a non-empty list of events to /tracker/events)")
        return None

    return check


async def client_errors_kept(request: Request, exception: SanicException) -> HTTPResponse:
    """An exception handler for Sanic's own 4xx (413, 400, ...): answered as such, not as the 500 a
    catch-all handler would make of it."""
    return _refuse(int(getattr(exception, "status_code", 400) or 400), str(exception))


async def refuse_browsers(request: Request) -> HTTPResponse | None:
    """A request middleware for a server only other servers call (the action server: only Rasa): 403 for
    any request a browser made (browsers always send ``Origin`` on a cross-site POST; Rasa never does),
    so a web page an operator visits cannot post to it on their machine (rasa_sdk allows every origin)."""
    if request.headers.get("Origin"):
        return _refuse(403, "the action server takes requests from Rasa only, not from web pages")
    return None
