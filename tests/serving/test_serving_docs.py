"""`/docs` and `/redoc` work offline: every asset they reference is served by the app itself."""

from __future__ import annotations

import re
from typing import Any

import pytest

_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/static/favicon.png"}),
        ("/redoc", {"/docs/static/redoc.standalone.js", "/docs/static/favicon.png"}),
    ],
)
def test_docs_pages_reference_only_local_assets(api: Any, page: str, assets: set[str]) -> None:
    r = api.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "img-src 'self' data:;" in r.headers["content-security-policy"]  # nothing from other origins
    # no CDN, no Google Fonts, no public validator: no absolute URL anywhere in the page
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    refs = set(_REF.findall(r.text))
    assert refs == assets
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in refs:
        got = api.client.get(url)
        assert got.status_code == 200, url
        assert got.headers["content-type"].startswith(types[url[url.rfind(".") :]]), url
        assert len(got.content) > 1000, url
    assert "'/openapi.json'" in r.text or '"/openapi.json"' in r.text
    assert api.client.get("/openapi.json").status_code == 200


def test_docs_assets_are_a_fixed_list(api: Any) -> None:
    assert api.client.get("/docs/static/swagger-ui-bundle.js").text.lstrip().startswith("/*")
    for name in ("../app.py", "nope.js", "%2e%2e%2fdocs.py", "__init__.py"):
        assert api.client.get(f"/docs/static/{name}").status_code == 404, name
    assert api.client.get("/docs/oauth2-redirect").status_code == 200


def test_the_docs_say_what_a_score_means(api: Any) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    meaning = "calibrated probability that a lab test (or check)"
    assert meaning in schemas["RiskScore"]["properties"]["probability"]["description"]
    assert meaning in schemas["ScoreResponse"]["properties"]["result"]["description"]
    assert "complaint-prone" in schemas["MerchantRisk"]["properties"]["complaint_prob"]["description"]
    evidence = schemas["MerchantEvidence"]["properties"]
    assert "too_little_evidence" in evidence and "yellow" in evidence["too_little_evidence"]["description"]
