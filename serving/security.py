"""The web session secret and what binds a session to its key (threat model: docs/security.md).

A session cookie is only as safe as the secret that signs it. The old default (`changethis`, the same on
every installation) let anyone sign a cookie for any key id, and key ids are public (they appear in
`created_by` and in the page header). So:

* an explicit `CHOUJIAN_SECRET_KEY` is used when it is not a placeholder (production requires one);
* otherwise each installation generates its own 256-bit secret at first start and keeps it in
  `CHOUJIAN_SECRET_KEY_FILE`, readable by its owner only (0600); a placeholder is never used to sign;
* when neither is possible (a read-only disk) the planner pages answer 503 and the JSON API still works.

A session also carries `binding(secret, key_hash)`: a signed cookie is accepted only while its key still
has the stored hash it was issued for, so knowing a key id (or even the signing secret without the
database) is not enough to forge one. Revoking a key, or its expiry (which rotation sets), ends its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from serving.settings import PLACEHOLDER_SECRETS, Settings

logger = logging.getLogger(__name__)

#: shorter than this and a configured secret counts as a placeholder (as in the settings' own check)
MIN_SECRET_CHARS = 16


def usable(secret: str | None) -> bool:
    """True when `secret` may sign cookies: set, not a known placeholder, long enough."""
    return secret is not None and secret.strip().lower() not in PLACEHOLDER_SECRETS and len(secret) >= MIN_SECRET_CHARS


def read_or_create_secret(path: Path) -> str:
    """This installation's generated secret: read from `path`, or created there (mode 0600) at first use.

    Creation is exclusive, so two workers starting together end up with the same secret.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker won the race: use its secret
            return read_or_create_secret(path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        logger.info("generated this installation's session secret in %s (mode 0600)", path)
        return value
    if (path.stat().st_mode & 0o077) != 0:
        logger.warning("%s is readable by other users: chmod 600 it", path)
    if not usable(text):
        raise ValueError(f"{path} holds no usable secret (empty, a placeholder or shorter than {MIN_SECRET_CHARS})")
    return text


def session_secret(settings: Settings) -> str | None:
    """The secret that signs web sessions, or None when there is none (the pages then refuse to serve)."""
    configured = None if settings.secret_key is None else settings.secret_key.get_secret_value()
    if usable(configured):
        return configured
    if configured is not None:
        logger.warning("CHOUJIAN_SECRET_KEY is a placeholder: ignored; using the installation's generated secret")
    try:
        return read_or_create_secret(settings.secret_key_file)
    except (OSError, ValueError) as e:
        logger.error("no session secret (%s): the planner pages will answer 503 until one is set", e)
        return None


def binding(secret: str, key_hash: str) -> str:
    """What ties a session to the key's stored hash: an HMAC only the server (secret + database) can compute."""
    return hmac.new(secret.encode(), f"session-binding:{key_hash}".encode(), hashlib.sha256).hexdigest()[:32]


def bound(secret: str, key_hash: str, claimed: str) -> bool:
    """Constant-time check that a session's binding matches the key's current hash."""
    return bool(claimed) and hmac.compare_digest(binding(secret, key_hash), claimed)
