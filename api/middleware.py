"""The request id every answer carries, ``Cache-Control: no-store`` on the API's answers, and the
refusal of URLs PostgreSQL could not store.

A plain ASGI middleware (a few microseconds a request): Starlette's ``BaseHTTPMiddleware`` costs a
task and a stream per request on the hot paths (lookup, intake).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis import text

HEADER = b"x-request-id"
#: answers of these paths hold what the caller's roles reach (cases, positions, contacts): a shared
#: command-hall PC's browser must not keep them after sign-out, unless a route says otherwise (tiles)
PRIVATE_PREFIXES = ("/api/", "/open311/")
NO_STORE = (b"cache-control", b"no-store")
#: an id a client or proxy sends is kept when it is this plain, so logs on both sides match
_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


def request_id(scope: Scope) -> str:
    """The id of the request being served (``-`` outside one)."""
    return scope.get("state", {}).get("request_id", "-")


class RequestId:
    """Gives each request an id (``X-Request-ID``: the client's when plain, else a new one), puts
    it in ``request.state.request_id`` and on every response; refuses a query string or path that
    holds a NUL character (``%00``) with a 400 naming the parameter, before any route binds it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v for k, v in scope["headers"] if k == HEADER and _CLIENT_ID.match(v)), None)
        rid_text = rid.decode() if rid else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid_text
        header = (HEADER, rid_text.encode())
        private = scope["path"].startswith(PRIVATE_PREFIXES)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == HEADER for k, _ in headers):  # the 500 handler adds its own
                    headers.append(header)
                if private and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        refused = _refuse(scope)
        if refused is not None:
            await _answer_400(send_with_id, refused)
            return
        await self.app(scope, receive, send_with_id)


def _refuse(scope: Scope) -> dict[str, str] | None:
    """The error body for a URL with text PostgreSQL cannot store, or None (the common case)."""
    qs: bytes = scope.get("query_string", b"")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    if b"%00" not in qs and b"%00" not in raw_path:
        return None
    for name, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
        why = text.problem(value) or text.problem(name)
        if why:
            return {"error": "invalid_input", "field": name, "message": f"{name} {why}", "allowed": text.ALLOWED}
    if "\x00" in unquote(raw_path.decode("latin-1")):
        return {"error": "invalid_input", "field": "path", "message": "the path contains a NUL character"}
    return None


async def _answer_400(send: Send, body: dict[str, str]) -> None:
    content = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": content})
