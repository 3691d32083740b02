"""The market store on real databases: `choujian ingest` (idempotent, all or nothing, history kept), `choujian
export` (a market `load_market` reads, with the results recorded through the API), `POST /v1/ingest` and the
cross-platform onboarding check `POST /v1/merchants/check`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app as cli
from features.market import load_market
from serving import market_store, store
from serving.db import (
    IdentityLinkRow,
    MarketListingRow,
    MarketRevisionRow,
    RecordHistoryRow,
    RegistryStatusRow,
)
from serving.decisions import LinkedFacts, Onboarding, onboarding_decision

runner = CliRunner()
CODE_A = "91330106MA2GL5XX1D"  # a valid credit code (the API's example)


@pytest.fixture(scope="module")
def csv_market(tmp_path_factory: pytest.TempPathFactory, market_dir: Path) -> Path:
    """The small simulated market as CSV files (what a user edits by hand)."""
    out = tmp_path_factory.mktemp("csv-market")
    load_market(market_dir).write(out, fmt="csv")
    return out


def _ingest(db_url: str, directory: Path) -> Any:
    return runner.invoke(cli, ["ingest", str(directory), "--database-url", db_url])


def _counts(sessions: Any) -> dict[str, int]:
    with sessions() as s:
        out = {
            name: int(s.scalar(select(func.count()).select_from(market_store.SPECS[name].model)) or 0)
            for name in market_store.STORE_TABLES
        }
        out["revisions"] = int(s.scalar(select(func.count()).select_from(MarketRevisionRow)) or 0)
        out["history"] = int(s.scalar(select(func.count()).select_from(RecordHistoryRow)) or 0)
        return out


def test_ingest_twice_changes_nothing_the_second_time(db_url: str, sessions: Any, csv_market: Path) -> None:
    first = _ingest(db_url, csv_market)
    assert first.exit_code == 0, first.output
    before = _counts(sessions)
    m = load_market(csv_market)
    assert before["listings"] == len(m.listings) and before["reviews"] == len(m.reviews)
    assert before["revisions"] == 1
    second = _ingest(db_url, csv_market)
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _counts(sessions) == before
    with sessions() as s:  # every merchant has an identity in the registry
        assert s.scalar(select(func.count()).select_from(IdentityLinkRow)) == len(m.merchants)


def test_a_bad_row_is_refused_with_file_row_and_column_and_the_store_is_unchanged(
    db_url: str, sessions: Any, csv_market: Path, tmp_path: Path
) -> None:
    assert _ingest(db_url, csv_market).exit_code == 0
    before = _counts(sessions)
    bad = tmp_path / "bad"
    m = load_market(csv_market)
    m.listings.loc[1, "title"] = "新标题"  # a change that would be written, were the file not refused
    m.write(bad, fmt="csv")
    listings = pd.read_csv(bad / "listings.csv", dtype=str, keep_default_na=False)
    listings.loc[4, "price"] = "-3"
    listings.to_csv(bad / "listings.csv", index=False)
    r = _ingest(db_url, bad)
    assert r.exit_code == 2
    assert "listings.csv, row 5 (line 6), column 'price'" in r.output
    assert _counts(sessions) == before
    # a rule of the store's own (one result per plan and listing) is checked before writing too
    m = load_market(csv_market)
    m.lab_results = pd.concat([m.lab_results, m.lab_results.iloc[[0]]], ignore_index=True)
    m.write(bad, fmt="csv")
    r = _ingest(db_url, bad)
    assert r.exit_code == 2 and f"lab_results.csv, row {len(m.lab_results)}" in r.output and "listing_id" in r.output
    assert _counts(sessions) == before


def test_a_changed_record_is_updated_and_its_previous_version_kept(
    db_url: str, sessions: Any, csv_market: Path, tmp_path: Path
) -> None:
    assert _ingest(db_url, csv_market).exit_code == 0
    m = load_market(csv_market)
    lid, old_price = m.listings.loc[3, "listing_id"], float(m.listings.loc[3, "price"])
    mid = m.merchants.loc[0, "merchant_id"]
    m.listings.loc[3, "price"] = old_price + 10
    m.merchants.loc[0, "registry_status"] = "serious_violation"
    changed = tmp_path / "changed"
    m.write(changed)
    with sessions() as s:
        frames = market_store.MarketFrames.of(load_market(changed))
        report = market_store.ingest(s, frames, source="cli")
        s.commit()
    assert report.counts["listings"].updated == 1 and report.counts["listings"].inserted == 0
    assert report.counts["merchants"].updated == 1 and report.counts["reviews"].unchanged == len(m.reviews)
    with sessions() as s:
        assert s.get(MarketListingRow, lid).price == pytest.approx(old_price + 10)  # type: ignore[union-attr]
        [hist] = s.scalars(select(RecordHistoryRow).where(RecordHistoryRow.record_key == lid)).all()
        assert hist.table_name == "listings" and hist.data["price"] == pytest.approx(old_price)
        assert hist.revision == report.revision
        statuses = s.scalars(
            select(RegistryStatusRow.registry_status).where(RegistryStatusRow.merchant_id == mid)
        ).all()
        assert list(statuses) == ["normal", "serious_violation"]


def test_export_round_trips_and_carries_recorded_results(
    db_url: str, market_dir: Path, csv_market: Path, tmp_path: Path, start_app: Any
) -> None:
    assert _ingest(db_url, csv_market).exit_code == 0
    with start_app(market_source="store") as api:  # the store, not the folder: see the fingerprint
        r = api.client.post("/v1/plans", json={"budget": 20_000, "seed": 3}, headers=api.as_("planner"))
        assert r.status_code == 201, r.text
        plan = r.json()
        assert plan["market_fingerprint"].startswith("store-r")
        targets = plan["targets"][:3]
        results = [
            {
                "listing_id": t["listing_id"],
                "sampled_date": "2026-11-20",
                "verdict": "fail" if i == 0 else "pass",
                "failure_types": ["counterfeit"] if i == 0 else [],
                "cost": 100.0,
            }
            for i, t in enumerate(targets)
        ]
        r = api.client.post(
            f"/v1/plans/{plan['plan_id']}/results", json={"results": results}, headers=api.as_("planner")
        )
        assert r.status_code in (200, 201), r.text
    out = tmp_path / "export"
    r = runner.invoke(cli, ["export", "--out", str(out), "--database-url", db_url])
    assert r.exit_code == 0, r.output
    assert "3 recorded through the service" in r.output
    original, exported = load_market(csv_market), load_market(out)
    for name in ("merchants", "listings", "reviews"):
        pd.testing.assert_frame_equal(getattr(exported, name), getattr(original, name))
    n = len(original.lab_results)
    pd.testing.assert_frame_equal(exported.lab_results.iloc[:n], original.lab_results)
    recorded = exported.lab_results.iloc[n:].set_index("listing_id")
    assert list(recorded.index) == [t["listing_id"] for t in targets]
    assert set(recorded["plan_id"]) == {plan["plan_id"]}
    for t in targets:
        assert recorded.loc[t["listing_id"], "inclusion_prob"] == pytest.approx(t["inclusion_prob"], rel=0, abs=0)
    assert recorded["verdict"].tolist() == ["fail", "pass", "pass"]


# --- the push API -------------------------------------------------------------------------------------
def _push(api: Any, body: dict[str, Any], role: str = "ingest") -> Any:
    return api.client.post("/v1/ingest", json=body, headers=api.as_(role) if role else {})


@pytest.fixture
def ingest_api(start_app: Any) -> Any:
    with start_app(max_ingest_records=5) as api:
        with api.app.state.sessions() as s:
            api.keys["ingest"] = store.create_key(s, role="ingest", name="platform feed")[1]
        yield api


def test_push_auth_limits_validation_and_idempotence(ingest_api: Any, rec: Any) -> None:
    api = ingest_api
    body = {"merchants": [rec.merchant("M1", credit_code=CODE_A)], "listings": [rec.listing("L1", "M1")]}
    assert _push(api, body, role="").status_code == 401
    assert _push(api, body, role="platform").status_code == 403
    assert _push(api, body, role="planner").status_code == 403
    r = _push(api, body)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["listings"] == {"inserted": 1, "updated": 0, "unchanged": 0}
    assert r.json()["revision"] is not None and r.json()["linked_merchants"] == 1
    again = _push(api, body, role="admin")
    assert again.status_code == 200 and again.json()["revision"] is None
    assert again.json()["counts"]["merchants"] == {"inserted": 0, "updated": 0, "unchanged": 1}
    # a later push may name what an earlier one brought
    r = _push(
        api,
        {
            "listings": [rec.listing("L2", "M1")],
            "reviews": [{"listing_id": "L1", "text": "好", "rating": 5, "review_date": "2026-11-01"}],
        },
    )
    assert r.status_code == 200, r.text
    # too many records: 413 naming the table
    six = {"listings": [rec.listing(f"L{i}", "M1") for i in range(6)]}
    r = _push(api, six)
    assert r.status_code == 413 and r.json()["message"].startswith("listings: at most 5 records")
    # a bad field: 422 naming it and the record
    r = _push(api, {"listings": [rec.listing("L9", "M1", price=-1)]})
    assert r.status_code == 422 and r.json()["message"].startswith("listings[0].price")
    # a reference neither the push nor the store resolves: 422 naming it; nothing of the push is written
    r = _push(api, {"merchants": [rec.merchant("M2")], "listings": [rec.listing("L3", "M2"), rec.listing("L4", "M9")]})
    assert r.status_code == 422 and r.json()["message"].startswith("listings[1].merchant_id")
    r = _push(api, {"listings": [rec.listing("L3", "M1")]})
    assert r.json()["counts"]["listings"]["inserted"] == 1  # L3 was not written by the refused push
    r = _push(api, {"merchants": [rec.merchant("M1"), rec.merchant("M1")]})
    assert r.status_code == 422 and r.json()["message"].startswith("merchants[1].merchant_id")


# --- the onboarding check -----------------------------------------------------------------------------
def _check(api: Any, **body: Any) -> Any:
    r = api.client.post("/v1/merchants/check", json={"platform": "拼多多", **body}, headers=api.as_("platform"))
    assert r.status_code == 200, r.text
    return r.json()


def test_merchant_check_links_across_platforms(ingest_api: Any, rec: Any) -> None:
    api = ingest_api
    removed = rec.merchant("T1", platform="淘宝", shop_name="康美日化旗舰店", phone="0571-88886666")
    other = rec.merchant("J1", platform="京东", shop_name="优品家居生活馆", credit_code=CODE_A)
    removal = {"merchant_id": "T1", "platform": "淘宝", "removed_date": "2026-03-02", "reason": "售假"}
    assert _push(api, {"merchants": [removed, other], "removals": [removal]}).status_code == 200

    clean = _check(api, shop_name="全新小店铺", phone="13900000001")
    assert clean["decision"] == "accept" and clean["linked"] == []
    assert clean["reasons"][0]["code"] == "NO_LINKED_SHOP"

    by_phone = _check(api, shop_name="另一个名字的店", phone="+86 0571-88886666".replace("+86 ", ""))
    assert by_phone["decision"] == "refuse"
    [shop] = by_phone["linked"]
    assert shop["merchant_id"] == "T1" and shop["via"] == ["phone"]
    assert shop["removals"] == [{"platform": "淘宝", "removed_date": "2026-03-02", "reason": "售假"}]
    assert by_phone["reasons"][0]["code"] == "LINKED_SHOP_REMOVED" and "T1" in by_phone["reasons"][0]["zh"]
    assert "售假" in by_phone["reasons"][0]["en"]

    by_name = _check(api, shop_name="康美日化旗舰店")  # the name alone is weak evidence: review
    assert by_name["decision"] == "review" and by_name["linked"][0]["via"] == ["name"]

    code_clean = _check(api, shop_name="新开的家居店", credit_code=CODE_A)
    assert code_clean["decision"] == "accept" and code_clean["linked"][0]["merchant_id"] == "J1"

    # a shop bridging both identities (the removed shop's phone, the other's credit code) merges them, and
    # the registry is updated at ingest: the clean code now leads to the removed shop through its identity
    bridge = rec.merchant("P1", platform="拼多多", shop_name="桥接小店", phone="0571-88886666", credit_code=CODE_A)
    assert _push(api, {"merchants": [bridge]}).status_code == 200
    merged = _check(api, shop_name="新开的家居店", credit_code=CODE_A)
    assert {s["merchant_id"] for s in merged["linked"]} == {"T1", "J1", "P1"}
    assert len({s["identity_id"] for s in merged["linked"]}) == 1
    # T1 shares no key with this applicant, only an identity through P1: a removal seen that way asks for review
    assert merged["decision"] == "review"
    assert [r["merchant_id"] for r in merged["reasons"]] == ["T1"]
    assert next(s for s in merged["linked"] if s["merchant_id"] == "T1")["via"] == []


def test_a_bad_applicant_field_is_a_422_naming_it(ingest_api: Any) -> None:
    r = ingest_api.client.post(
        "/v1/merchants/check",
        json={"platform": "拼多多", "shop_name": "店", "credit_code": "123"},
        headers=ingest_api.as_("platform"),
    )
    assert r.status_code == 422 and r.json()["message"].startswith("credit_code")


@pytest.mark.parametrize(
    ("facts", "decision"),
    [
        ([], Onboarding.accept),
        ([LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=["phone"])], Onboarding.accept),
        (
            [LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=["code"], removals_elsewhere=1)],
            Onboarding.refuse,
        ),
        (
            [
                LinkedFacts(
                    merchant_id="A", platform="淘宝", shop_name="a", via=["name"], removals=["淘宝 2026-01-01 售假"]
                )
            ],
            Onboarding.review,
        ),
        (
            [LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=[], registry_status="revoked")],
            Onboarding.review,
        ),
        (
            [LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=["phone"], registry_status="revoked")],
            Onboarding.refuse,
        ),
        (
            [LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=["phone"], lab_failures=2)],
            Onboarding.review,
        ),
        (
            [LinkedFacts(merchant_id="A", platform="淘宝", shop_name="a", via=["phone"], lab_failures=3)],
            Onboarding.refuse,
        ),
        (
            [
                LinkedFacts(
                    merchant_id="A", platform="淘宝", shop_name="a", via=["code"], registry_status="abnormal_operations"
                )
            ],
            Onboarding.review,
        ),
    ],
)
def test_onboarding_decision(facts: list[LinkedFacts], decision: Onboarding) -> None:
    got, reasons = onboarding_decision(facts, refuse_at_lab_failures=3)
    assert got is decision and reasons
    if facts and decision is not Onboarding.accept:
        assert all(r.merchant_id == "A" for r in reasons)
