"""Text the API refuses before any route sees it: NUL characters and unpaired UTF-16 surrogates in JSON.

JSON may spell both as escapes (`\\u0000`, a lone `\\ud800`) and Python's parser accepts them, but
PostgreSQL cannot store a NUL in text and no UTF-8 encoder can write a lone surrogate: each reached the
database or the response encoder and ended as a 500. They are never meaningful in a listing, a name or an
id, so a request carrying one gets a 422 naming the field instead.

The check costs one byte-level regex search per JSON body; only a body that contains such an escape is
parsed a second time to find where it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the only ways the two can appear in valid JSON (a raw NUL byte or raw surrogate is invalid JSON already)
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
MESSAGE = "text must not contain NUL (U+0000) or an unpaired surrogate (U+D800–U+DFFF)"


def _bad(text: str) -> bool:
    return "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text)


def find_bad_text(body: bytes) -> list[str | int] | None:
    """The location (`["body", ...]`) of the first string or key holding NUL or a lone surrogate, else None."""
    if not _SUSPECT.search(body):
        return None
    try:
        data = json.loads(body)  # a valid surrogate pair decodes to one character: what remains is unpaired
    except (ValueError, RecursionError):
        return None  # not JSON after all: the route's own parser reports it
    stack: list[tuple[Any, list[str | int]]] = [(data, ["body"])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if _bad(node):
                return loc
        elif isinstance(node, dict):
            for k, v in node.items():
                if _bad(k):
                    return [*loc, k]
                stack.append((v, [*loc, k]))
        elif isinstance(node, list):
            stack.extend((v, [*loc, i]) for i, v in enumerate(node))
    return None


def _where(loc: list[str | int]) -> str:
    out = ""
    for p in loc[1:]:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return True  # FastAPI parses a body without a content type as JSON


class TextGuardMiddleware:
    """422 for a JSON body with NUL or an unpaired surrogate in any string or key, naming where."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        loc = find_bad_text(body)
        if loc is not None:
            await _reject(send, loc)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reject(send: Send, loc: list[str | int]) -> None:
    # the offending key itself may be in `loc`: written with escapes, so the answer can be encoded
    safe = [p if isinstance(p, int) else p.encode("utf-8", "backslashreplace").decode("utf-8") for p in loc]
    body = json.dumps(
        {
            "detail": [{"loc": safe, "msg": MESSAGE, "type": "string_invalid_text"}],
            "message": f"{_where(safe)}: {MESSAGE}",
        },
        ensure_ascii=True,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
