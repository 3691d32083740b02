"""The API docs (`/docs` Swagger UI, `/redoc` ReDoc) with their JavaScript and CSS served by the app itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from Google), so on a
machine without internet access `/docs` is a blank page. This follows FastAPI's documented recipe
("Custom Docs UI Static Assets": `docs_url=None`, then `get_swagger_ui_html` / `get_redoc_html` pointing at
local URLs) with the asset files of the `fastapi-offline` package (MIT; it vendors swagger-ui-dist 5 and
ReDoc 2 unmodified), served read-only from a fixed list of names under `/docs/static/`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"

#: the only files served, with their content types
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
#: the pages may load nothing from another origin: ReDoc's sidebar asks cdn.redoc.ly for its logo (and hides
#: it when that fails), which this stops before any request; Swagger UI's page has one inline script
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


@cache
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()


def _local(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def include_docs(app: FastAPI) -> None:
    """Add `/docs`, `/redoc`, the OAuth2 redirect page and `/docs/static/{name}` to an app built with
    `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} — Swagger UI",
                oauth2_redirect_url=f"{root}{oauth2_redirect}" if oauth2_redirect else None,
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                # no call to the public validator at validator.swagger.io
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
            )
        )

    if oauth2_redirect:

        @app.get(oauth2_redirect, include_in_schema=False)
        def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} — ReDoc",
                redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )

    @app.get(STATIC_URL + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail="not found")
        resp = Response(content=_asset(name), media_type=ASSETS[name])
        resp.headers["Cache-Control"] = "public, max-age=86400"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp
