"""Signed session cookie and CSRF tokens for the planner pages.

The cookie holds no secret: only the API key's id (never the key itself), its role, a per-session CSRF
token, the login time and a binding to the key's stored hash (`serving.security.binding`), signed with
itsdangerous so it cannot be forged or altered. Every request re-checks the key and the binding against
the store, so revoking a key, or its expiry, logs its web sessions out too.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "choujian_session"
_SALT = "choujian-web-session-v1"


@dataclass(frozen=True)
class WebSession:
    """What the session cookie carries."""

    key_id: str
    role: str
    csrf: str
    issued: float
    binding: str = ""  # empty: bound to nothing, accepted nowhere


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def new_session(*, key_id: str, role: str, binding: str = "") -> WebSession:
    """A fresh session with its own CSRF token (a new token on every login defeats session fixation)."""
    return WebSession(key_id=key_id, role=role, csrf=secrets.token_urlsafe(32), issued=time.time(), binding=binding)


def encode(session: WebSession, secret: str) -> str:
    """Sign the session for the cookie."""
    payload = {"k": session.key_id, "r": session.role, "c": session.csrf, "t": session.issued, "b": session.binding}
    return str(_serializer(secret).dumps(payload))


def decode(token: str | None, secret: str, *, max_age_s: int) -> WebSession | None:
    """The session in a cookie value, or None when it is missing, forged, malformed or older than max_age_s."""
    if not token:
        return None
    try:
        data = _serializer(secret).loads(token, max_age=max_age_s)
    except BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(data, dict):
        return None
    try:
        return WebSession(
            key_id=str(data["k"]),
            role=str(data["r"]),
            csrf=str(data["c"]),
            issued=float(data["t"]),
            binding=str(data.get("b", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def csrf_matches(session: WebSession, token: str | None) -> bool:
    """Constant-time check that a form's CSRF token is this session's."""
    return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())
