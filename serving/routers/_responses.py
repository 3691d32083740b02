"""OpenAPI `responses=` entries shared by the routers, so every documented error has its schema."""

from __future__ import annotations

from typing import Any

from serving.schemas import ErrorResponse

_E: dict[str, Any] = {"model": ErrorResponse}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {**_E, "description": "missing, invalid or revoked key"}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {**_E, "description": "the key's role may not do this"}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**_E, "description": "no such resource"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {**_E, "description": "conflicts with what is stored"}}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: {**_E, "description": "request body too large"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {**_E, "description": "a field is invalid: `message` names it"}}
BUSY: dict[int | str, dict[str, Any]] = {429: {**_E, "description": "another plan is being drawn: retry later"}}
NO_MODEL: dict[int | str, dict[str, Any]] = {503: {**_E, "description": "no model loaded (or no market for plans)"}}

AUTH = {**UNAUTHORIZED, **FORBIDDEN}
BODY = {**TOO_LARGE, **INVALID}
