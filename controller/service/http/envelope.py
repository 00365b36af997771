"""The response envelope of the seeds, built in one place.

Success: `{success: true, data, meta: {requestId, timestamp, duration}}` (plus the seeds'
top-level `message` or `warning` where they show one). Failure: `{success: false,
error: {code, message, details, suggestion}, meta}`. The request id and start time come
from the request context middleware, through the ASGI scope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from controller.adapters.clock import iso_at
from controller.service.http.errors import ApiError

REQUEST_ID = "cloud.request_id"
STARTED = "cloud.started"


def timestamp() -> str:
    return iso_at(time.time())


def meta(scope: Scope) -> dict[str, Any]:
    started = scope.get(STARTED)
    duration = round((time.perf_counter() - started) * 1000, 2) if started else 0.0
    return {"requestId": scope.get(REQUEST_ID, ""), "timestamp": timestamp(), "duration": duration}


class EncodedJSON:
    """A reply's `data` already encoded (a page built once and served many times): the
    envelope is spliced around these bytes instead of encoding the data again."""

    __slots__ = ("body",)

    def __init__(self, data: Any) -> None:
        self.body = _encode(data)


def _encode(content: Any) -> bytes:
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode("utf-8")


def _meta_json(scope: Scope) -> bytes:
    """`meta` as JSON, by hand: every field is ours (a request id of a safe alphabet, a
    timestamp, a number)."""
    started = scope.get(STARTED)
    duration = (time.perf_counter() - started) * 1000 if started else 0.0
    request_id = scope.get(REQUEST_ID, "")  # of [A-Za-z0-9._-] (the frame's): no escaping
    at = timestamp()
    # `:.2f` is `round(duration, 2)` as JSON, in one conversion instead of two
    return f'{{"requestId":"{request_id}","timestamp":"{at}","duration":{duration:.2f}}}'.encode()


_JSON_TYPE = (b"content-type", b"application/json")


class EnvelopeResponse(Response):
    media_type = "application/json"
    plain = False  # its headers are just content-length and content-type

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return _encode(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's two headers, without its general case (every API answer comes here)."""
        if headers is None and self.status_code >= 200 and self.status_code not in (204, 304):
            self.raw_headers = [(b"content-length", b"%d" % len(self.body)), _JSON_TYPE]
            self.plain = True
        else:
            super().init_headers(headers)


def success(
    scope: Scope,
    data: Any,
    *,
    status: int = 200,
    message: str | None = None,
    warning: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if isinstance(data, EncodedJSON):
        extra = b""
        if message is not None:
            extra += b',"message":' + _encode(message)
        if warning is not None:
            extra += b',"warning":' + _encode(warning)
        raw = b"".join(
            (b'{"success":true,"data":', data.body, extra, b',"meta":', _meta_json(scope), b"}")
        )  # one copy of the (large) data, not one per concatenation
        return EnvelopeResponse(raw, status_code=status, headers=headers)
    body: dict[str, Any] = {"success": True, "data": data}
    if message is not None:
        body["message"] = message
    if warning is not None:
        body["warning"] = warning
    body["meta"] = meta(scope)
    return EnvelopeResponse(body, status_code=status, headers=headers)


def failure(scope: Scope, error: ApiError) -> Response:
    body = {"success": False, "error": error.body(), "meta": meta(scope)}
    return EnvelopeResponse(body, status_code=error.status, headers=error.headers or None)
