"""A tiny asyncio HTTP/1.1 server for JSON control APIs (one request per connection).

The application is one coroutine ``handler(HttpRequest) -> HttpResponse``; raising
:class:`HttpError` produces a JSON error ``{"error": message}`` with its status. Anything
else that escapes the handler becomes a 500 with the exception's text, never a traceback
on the wire. Malformed HTTP gets a 400.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT_S = 10.0

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (an empty body is ``{}``); HttpError 400 when it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from None


@dataclass
class HttpResponse:
    status: int = 200
    body: Any = field(default_factory=dict)

    def encode(self) -> bytes:
        payload = json.dumps(self.body).encode() + b"\n"
        head = (
            f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode("ascii") + payload


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
LogFn = Callable[[str], None]


class ControlServer:
    def __init__(self, handler: Handler, log: LogFn | None = None) -> None:
        self._handler = handler
        self._log = log or (lambda line: None)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):  # e.g. long-polls in progress
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=1.0)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve_one(reader, writer)
        except asyncio.CancelledError:
            # Shutdown: a server handler task ends quietly (asyncio would log the
            # cancellation as an error otherwise).
            writer.close()
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT_S)
            except HttpError as exc:
                response = HttpResponse(exc.status, {"error": exc.message})
                request = None
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            if request is not None:
                response = await self._dispatch(request)
                self._log(f"HTTP {request.method} {request.path} -> {response.status}")
            writer.write(response.encode())
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._handler(request)
        except HttpError as exc:
            body = exc.body if exc.body is not None else {"error": exc.message}
            return HttpResponse(exc.status, body)
        except Exception as exc:  # noqa: BLE001 - the API must answer, never crash
            self._log(f"HTTP {request.method} {request.path} handler error: {exc!r}")
            return HttpResponse(500, {"error": f"internal error: {exc!r}"})


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(400, "request header too large") from None
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise
        raise HttpError(400, "request header block is incomplete") from None
    if len(head) > MAX_HEADER_BYTES:
        raise HttpError(400, "request header too large")
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text[:-4].split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise HttpError(400, f"unsupported HTTP version {version!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(400, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    if length < 0:
        raise HttpError(400, "Content-Length is negative")
    if length > MAX_BODY_BYTES:
        raise HttpError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise HttpError(400, "body shorter than Content-Length") from None
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return HttpRequest(method.upper(), unquote(parts.path) or "/", query, headers, body)
