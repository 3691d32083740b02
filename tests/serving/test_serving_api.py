"""The JSON API through TestClient on a real store (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

CLAIMS_TITLE = "国家级专利 灵芝孢子粉 根治失眠"
CLEAN_TITLE = "优质专利 灵芝孢子粉 改善睡眠"


def _one(title: str, lid: str = "L1") -> dict[str, Any]:
    listing = {
        "listing_id": lid,
        "merchant_id": "M1",
        "platform": "淘宝",
        "category": "保健食品",
        "brand": "康美",
        "title": title,
        "description": "精选原料，规格：60粒/瓶。",
        "price": 89.0,
        "sales": 15,
        "listed_date": "2026-10-01",
    }
    merchant = {
        "merchant_id": "M1",
        "platform": "淘宝",
        "shop_name": "康美保健品旗舰店",
        "opened_date": "2023-05-12",
        "registry_status": "normal",
    }
    return {"listing": listing, "merchant": merchant, "reviews": []}


# --- ops ----------------------------------------------------------------------------------------------
def test_health_ready_metrics(api: Any) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_loaded"] and ready.json()["database"]
    api.client.post("/v1/score/listing", json=_one(CLAIMS_TITLE), headers=api.as_("platform"))
    text = api.client.get("/metrics").text
    assert 'choujian_model_info{name="rules",version="1"} 1.0' in text
    assert 'choujian_request_seconds_bucket{le="0.005",method="POST",route="/v1/score/listing",status="200"}' in text
    assert "choujian_scores_served_total" in text
    # latency is labelled by route template, never by raw path (bounded label set)
    api.client.get("/v1/plans/plan-x", headers=api.as_("planner"))
    text = api.client.get("/metrics").text
    assert 'route="/v1/plans/{plan_id}"' in text and "plan-x" not in text


# --- auth ---------------------------------------------------------------------------------------------
def test_keys_and_roles(api: Any) -> None:
    c = api.client
    body = _one(CLEAN_TITLE)
    r = c.post("/v1/score/listing", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert c.post("/v1/score/listing", json=body, headers={"Authorization": "Bearer cj_nope_nope"}).status_code == 401
    assert c.post("/v1/score/listing", json=body, headers={"Authorization": "Basic abc"}).status_code == 401
    # a right id with a wrong secret is still 401
    kid = api.keys["platform"].split("_")[1]
    assert c.post("/v1/score/listing", json=body, headers={"Authorization": f"Bearer cj_{kid}_x"}).status_code == 401
    assert c.post("/v1/score/listing", json=body, headers=api.as_("platform")).status_code == 200
    r = c.get("/v1/plans", headers=api.as_("platform"))
    assert r.status_code == 403 and "planner" in r.json()["message"]
    assert c.get("/v1/admin/keys", headers=api.as_("planner")).status_code == 403
    assert c.get("/v1/plans", headers=api.as_("planner")).status_code == 200
    assert c.get("/v1/model", headers=api.as_("platform")).status_code == 200


def test_admin_creates_lists_and_revokes_keys(api: Any) -> None:
    c, admin = api.client, api.as_("admin")
    r = c.post("/v1/admin/keys", json={"role": "platform", "name": "京东 审核"}, headers=admin)
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith(f"cj_{new['key_id']}_") and new["role"] == "platform"
    listed = c.get("/v1/admin/keys", headers=admin).json()["keys"]
    assert new["key_id"] in {k["key_id"] for k in listed}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    auth = {"Authorization": f"Bearer {new['key']}"}
    assert c.post("/v1/score/listing", json=_one(CLEAN_TITLE), headers=auth).status_code == 200
    assert c.delete(f"/v1/admin/keys/{new['key_id']}", headers=admin).json()["revoked_at"] is not None
    assert c.post("/v1/score/listing", json=_one(CLEAN_TITLE), headers=auth).status_code == 401
    assert c.delete("/v1/admin/keys/doesnotexist", headers=admin).status_code == 404
    own = api.keys["admin"].split("_")[1]
    assert c.delete(f"/v1/admin/keys/{own}", headers=admin).status_code == 409
    r = c.post("/v1/admin/keys", json={"role": "root"}, headers=admin)
    assert r.status_code == 422 and r.json()["message"].startswith("role:")


# --- scoring ------------------------------------------------------------------------------------------
def test_claims_raise_false_advertising_with_evidence_at_offsets(api: Any) -> None:
    c, h = api.client, api.as_("platform")
    bad = c.post("/v1/score/listing", json=_one(CLAIMS_TITLE), headers=h).json()
    clean = c.post("/v1/score/listing", json=_one(CLEAN_TITLE), headers=h).json()
    assert bad["model"] == {"name": "rules", "version": "1"}
    fa_bad = bad["result"]["risks"]["false_advertising"]["probability"]
    fa_clean = clean["result"]["risks"]["false_advertising"]["probability"]
    assert fa_bad > fa_clean
    spans = {(e["phrase"], e["start"], e["end"]) for e in bad["result"]["evidence"] if e["field"] == "title"}
    for phrase in ("国家级", "根治"):
        start = CLAIMS_TITLE.index(phrase)
        assert (phrase, start, start + len(phrase)) in spans
    assert bad["result"]["decision"] in ("review", "block") and bad["result"]["triggers"]
    assert clean["result"]["decision"] == "accept" and clean["result"]["triggers"] == []
    assert set(bad["result"]["risks"]) == {"lab_fail", "counterfeit", "false_advertising", "merchant_complaint"}


def test_batch_scores_in_order_and_names_bad_rows(api: Any, rec: Any) -> None:
    c, h = api.client, api.as_("platform")
    listings = [rec.listing(f"L{i}", title=t) for i, t in enumerate([CLEAN_TITLE, CLAIMS_TITLE, CLEAN_TITLE])]
    body = {"listings": listings, "merchants": [rec.merchant()], "reviews": []}
    r = c.post("/v1/score/batch", json=body, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [x["listing_id"] for x in out["results"]] == ["L0", "L1", "L2"]
    assert sum(out["decisions"].values()) == 3
    # the same listing scored alone gives the same numbers as inside the batch
    alone = c.post("/v1/score/listing", json=_one(CLAIMS_TITLE, "L1"), headers=h).json()["result"]
    assert alone["risks"] == out["results"][1]["risks"]

    bad = [dict(x) for x in listings]
    bad[2]["price"] = -5
    r = c.post("/v1/score/batch", json={**body, "listings": bad}, headers=h)
    assert r.status_code == 422
    assert r.json()["message"].startswith("listings[2].price: ") and "listing_id=L2" in r.json()["message"]
    assert r.json()["detail"][0]["loc"] == ["body", "listings", 2, "price"]

    orphan = [*listings, rec.listing("L9", mid="M404")]
    r = c.post("/v1/score/batch", json={**body, "listings": orphan}, headers=h)
    assert r.status_code == 422 and r.json()["message"].startswith("listings[3].merchant_id: ") and "L9" in r.text

    dup = [*listings, rec.listing("L0")]
    r = c.post("/v1/score/batch", json={**body, "listings": dup}, headers=h)
    assert r.status_code == 422 and "duplicate listing_id" in r.json()["message"]

    r = c.post(
        "/v1/score/batch",
        json={**body, "reviews": [{"listing_id": "L7", "text": "差", "rating": 1, "review_date": "2026-01-01"}]},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["message"].startswith("reviews[0].listing_id")

    too_many = [rec.listing(f"X{i}") for i in range(1001)]
    r = c.post("/v1/score/batch", json={**body, "listings": too_many}, headers=h)
    assert r.status_code == 422 and r.json()["message"].startswith("listings: ")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["listing"].pop("title"), "listing.title"),
        (lambda b: b["merchant"].update(credit_code="91330106MA2GL5XX1L"), "merchant.credit_code"),
        (lambda b: b["listing"].update(listed_date="2026-13-45"), "listing.listed_date"),
        (lambda b: b["listing"].update(listed_date="0470-03-12"), "listing.listed_date"),  # found by schemathesis
        (lambda b: b["merchant"].update(opened_date="9999-01-01"), "merchant.opened_date"),
        (
            lambda b: b.update(reviews=[{"listing_id": "L1", "text": "好", "rating": 9, "review_date": "2026-01-01"}]),
            "reviews[0].rating",
        ),
    ],
)
def test_malformed_single_requests_name_the_field(api: Any, mutate: Any, field: str) -> None:
    body = _one(CLEAN_TITLE)
    mutate(body)
    r = api.client.post("/v1/score/listing", json=body, headers=api.as_("platform"))
    assert r.status_code == 422
    assert r.json()["message"].startswith(f"{field}: ")


def test_not_json_and_wrong_link(api: Any) -> None:
    h = {**api.as_("platform"), "Content-Type": "application/json"}
    r = api.client.post("/v1/score/listing", content=b"{not json", headers=h)
    assert r.status_code == 422 and "JSON" in r.json()["message"]
    body = _one(CLEAN_TITLE)
    body["listing"]["merchant_id"] = "M2"
    r = api.client.post("/v1/score/listing", json=body, headers=api.as_("platform"))
    assert r.status_code == 422 and "does not match merchant.merchant_id" in r.json()["message"]


def test_oversize_body_is_413(start_app: Any) -> None:
    with start_app(max_body_bytes=4096) as a:
        c, h = a.client, a.as_("platform")
        body = _one(CLEAN_TITLE)
        body["listing"]["description"] = "很长的描述" * 2000
        r = c.post("/v1/score/listing", json=body, headers=h)
        assert r.status_code == 413 and "too large" in r.json()["message"]

        def chunks() -> Any:  # no Content-Length: the streamed size is counted
            yield b'{"listing": {"description": "'
            for _ in range(100):
                yield b"x" * 100
            yield b'"}}'

        r = c.post("/v1/score/listing", content=chunks(), headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 413
        assert c.post("/v1/score/listing", json=_one(CLEAN_TITLE), headers=h).status_code == 200


def test_merchant_risk_grade(api: Any, rec: Any) -> None:
    c, h = api.client, api.as_("planner")
    body = {"merchant": rec.merchant(registry_status="serious_violation"), "listings": [rec.listing()], "reviews": []}
    r = c.post("/v1/merchants/risk", json=body, headers=h)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["grade"] == "red" and "SERIOUS_VIOLATION_LIST" in {g["code"] for g in res["grade_reasons"]}
    ok = c.post("/v1/merchants/risk", json={**body, "merchant": rec.merchant()}, headers=h).json()["result"]
    assert ok["grade"] == "green" and ok["complaint_prob"] < res["complaint_prob"]
    assert ok["evidence"] == {"n_listings": 1, "n_reviews": 0, "min_reviews": 5, "too_little_evidence": True}
    assert "LITTLE_EVIDENCE" in {g["code"] for g in ok["grade_reasons"]}
    wrong = {**body, "listings": [rec.listing(mid="M2")]}
    r = c.post("/v1/merchants/risk", json=wrong, headers=h)
    assert r.status_code == 422 and r.json()["message"].startswith("listings[0].merchant_id")


def test_one_bad_review_does_not_grade_a_merchant_red(start_app: Any, rec: Any) -> None:
    """A high complaint score resting on one 1-star review grades yellow with the reason; five reviews grade red."""
    merchant = rec.merchant(removals_elsewhere=5)  # the rules scorer's complaint probability: 0.62 (≥ 0.6)
    review = {"listing_id": "L1", "text": "假货，差评", "rating": 1, "review_date": "2026-11-02"}
    body = {"merchant": merchant, "listings": [rec.listing()], "reviews": [review]}
    with start_app() as api:
        c, h = api.client, api.as_("platform")
        one = c.post("/v1/merchants/risk", json=body, headers=h).json()["result"]
        assert one["complaint_prob"] >= 0.6
        assert one["grade"] == "yellow" and one["evidence"]["too_little_evidence"]
        assert "COMPLAINT_RISK_HIGH_LITTLE_EVIDENCE" in {g["code"] for g in one["grade_reasons"]}
        five = c.post("/v1/merchants/risk", json={**body, "reviews": [review] * 5}, headers=h).json()["result"]
        assert five["grade"] == "red" and not five["evidence"]["too_little_evidence"]
        assert five["evidence"]["n_reviews"] == 5
    with start_app(merchant_min_reviews=1) as api:  # CHOUJIAN_MERCHANT_MIN_REVIEWS moves the line
        one = api.client.post("/v1/merchants/risk", json=body, headers=api.as_("platform")).json()["result"]
        assert one["grade"] == "red" and one["evidence"]["min_reviews"] == 1


# --- model info and reload ----------------------------------------------------------------------------
def test_a_loaded_model_is_frozen_out_of_full_collections_and_a_replaced_one_is_freed() -> None:
    """`serving.runtime.settle_heap`: the model's objects are skipped by full garbage collections (a 0.4 s stall
    of every request for the demo champion), and a reload unfreezes what it replaced, so nothing leaks."""
    import gc
    import weakref
    from types import SimpleNamespace

    from serving.runtime import ModelHolder

    class Model:
        def __init__(self, version: str) -> None:
            self.info = SimpleNamespace(name="m", version=version)
            self.me = self  # a reference cycle: only the garbage collector frees it

    made: list[weakref.ref[Model]] = []

    def loader() -> Any:
        m = Model(str(len(made)))
        made.append(weakref.ref(m))
        return m

    holder = ModelHolder(loader)
    try:
        holder.reload()
        assert gc.get_freeze_count() > 0 and made[0]() is not None
        holder.reload()
        assert made[0]() is None and made[1]() is holder.current  # the first one was not kept frozen
    finally:
        gc.unfreeze()


def test_model_info_and_hot_reload_under_load(start_app: Any, rec: Any) -> None:
    from serving.runtime import LoadedModel

    versions = ["1", "2", "3"]

    def loader() -> LoadedModel:
        if not versions:
            raise RuntimeError("registry unreachable")
        return rec.rules_loader(version=versions.pop(0))()

    with start_app(loader=loader) as a:
        c, keys = a.client, a.keys
        info = c.get("/v1/model", headers=a.as_("platform")).json()
        assert info["version"] == "1" and info["alias"] == "champion" and info["trained_at"] == "2026-11-23"
        assert info["metrics"] == {"holdout.pr_auc": 0.5} and info["block_thresholds"]["counterfeit"] == 0.85

        seen: list[tuple[int, str]] = []
        stop = threading.Event()

        def hammer() -> None:
            h = {"Authorization": f"Bearer {keys['platform']}"}
            while not stop.is_set():
                r = c.post("/v1/score/listing", json=_one(CLAIMS_TITLE), headers=h)
                seen.append((r.status_code, r.json()["model"]["version"] if r.status_code == 200 else r.text))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        for expected in ("2", "3"):
            r = c.post("/v1/admin/model/reload", headers=admin)
            assert r.status_code == 200 and r.json()["version"] == expected
        stop.set()
        for t in threads:
            t.join()
        assert seen and all(code == 200 for code, _ in seen), [s for s in seen if s[0] != 200][:3]
        assert {v for _, v in seen} <= {"1", "2", "3"}
        assert c.get("/v1/model", headers=admin).json()["version"] == "3"
        # a failing reload keeps the old model serving
        r = c.post("/v1/admin/model/reload", headers=admin)
        assert r.status_code == 503 and "old model keeps serving" in r.json()["message"]
        assert c.get("/v1/model", headers=admin).json()["version"] == "3"
        assert c.get("/readyz").status_code == 200
        assert 'choujian_model_info{name="rules",version="3"} 1.0' in c.get("/metrics").text


def test_not_ready_without_model(start_app: Any) -> None:
    def broken() -> Any:
        raise RuntimeError("registry has no champion")

    with start_app(loader=broken) as a:
        c = a.client
        r = c.get("/readyz")
        assert r.status_code == 503 and "registry has no champion" in r.json()["problems"][0]
        r = c.post("/v1/score/listing", json=_one(CLEAN_TITLE), headers=a.as_("platform"))
        assert r.status_code == 503 and "no model loaded" in r.json()["message"]
        # the key is checked before anything else: no state is revealed to anonymous callers
        assert c.get("/v1/model").status_code == 401
        assert c.post("/v1/score/listing", json=_one(CLEAN_TITLE)).status_code == 401
