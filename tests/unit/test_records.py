"""Record schemas and the validated loader: every bad row is named by file, row and column, and a bad
file loads nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from features.market import Market, RecordError, load_market, read_table
from features.records import LabResult, Listing, Merchant, Review, credit_code_check_char, is_valid_credit_code

# a published example of a unified social credit code, with a correct check character
GOOD_CODE = "91350100M000100Y43"


def _merchants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "merchant_id": ["M1", "M2", "M3"],
            "platform": ["淘宝", "京东", "拼多多"],
            "shop_name": ["鑫源数码专营店", "华为官方旗舰店", "阿强的小店"],
            "credit_code": [GOOD_CODE, "", ""],
            "phone": ["13800138000", "0571-88886666", ""],
            "region": ["福建省福州市", "广东省深圳市", ""],
            "opened_date": ["2020-01-05", "2018-03-01", "2024-07-30"],
            "registry_status": ["normal", "normal", "abnormal_operations"],
            "removals_elsewhere": ["0", "0", "2"],
        }
    )


def _listings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "listing_id": ["L1", "L2", "L3", "L4"],
            "merchant_id": ["M1", "M2", "M3", "M3"],
            "platform": ["淘宝", "京东", "拼多多", "拼多多"],
            "category": ["智能手机", "智能手机", "电热水壶", "蚕丝被"],
            "brand": ["小米", "华为", "", "无品牌"],
            "title": ["小米14 12GB+256GB 官方正品", "华为 Mate 60 Pro", "电热水壶 1.7L 国家级", "蚕丝被 100%桑蚕丝"],
            "description": ["", "正品行货", "", ""],
            "price": ["2299", "5999", "19.9", "199"],
            "sales": ["120", "3400", "8", ""],
            "ccc_cert": ["2023011606123456", "2023011606654321", "", ""],
            "listed_date": ["2024-05-01", "2024-06-01", "2025-01-02", "2025-02-03"],
        }
    )


def _write(d: Path, **frames: pd.DataFrame) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_csv(d / f"{name}.csv", index=False)
    return d


# --- credit codes -------------------------------------------------------------------------------------


def test_credit_code_checksum() -> None:
    assert is_valid_credit_code(GOOD_CODE)
    assert credit_code_check_char(GOOD_CODE[:17]) == GOOD_CODE[17]
    wrong = GOOD_CODE[:17] + ("4" if GOOD_CODE[17] != "4" else "5")
    assert not is_valid_credit_code(wrong)
    assert not is_valid_credit_code(GOOD_CODE[:17])  # too short
    assert not is_valid_credit_code(GOOD_CODE[:16] + "I" + GOOD_CODE[17])  # I, O, S, V, Z are not used


def test_merchant_normalises_and_refuses_codes() -> None:
    m = Merchant(
        merchant_id="M1", platform="淘宝", shop_name="店", credit_code=GOOD_CODE.lower(), opened_date="2020-01-01"
    )
    assert m.credit_code == GOOD_CODE
    assert (
        Merchant(
            merchant_id="M1", platform="淘宝", shop_name="店", credit_code="", opened_date="2020-01-01"
        ).credit_code
        is None
    )
    with pytest.raises(ValidationError, match="credit code"):
        Merchant(
            merchant_id="M1",
            platform="淘宝",
            shop_name="店",
            credit_code=GOOD_CODE[:17] + "0",
            opened_date="2020-01-01",
        )


def test_schema_rules() -> None:
    with pytest.raises(ValidationError):
        Review(listing_id="L1", text="好", rating=6, review_date="2024-01-01")
    with pytest.raises(ValidationError, match="failed verdict"):
        LabResult(listing_id="L1", sampled_date="2024-01-01", plan_id="P", verdict="fail")
    with pytest.raises(ValidationError, match="passed verdict"):
        LabResult(listing_id="L1", sampled_date="2024-01-01", plan_id="P", verdict="pass", failure_types="quality")
    lab = LabResult(
        listing_id="L1", sampled_date="2024-01-01", plan_id="P", verdict="fail", failure_types="counterfeit;three_no"
    )
    assert [str(t) for t in lab.failure_types] == ["counterfeit", "three_no"]
    with pytest.raises(ValidationError):
        LabResult(listing_id="L1", sampled_date="2024-01-01", plan_id="P", verdict="fail", failure_types="fake")
    with pytest.raises(ValidationError):
        Listing(
            listing_id="L1",
            merchant_id="M1",
            platform="淘宝",
            category="x",
            title="t",
            price=0,
            listed_date="2024-01-01",
        )
    with pytest.raises(ValidationError):
        Merchant(
            merchant_id="M1", platform="淘宝", shop_name="店", opened_date="2020-01-01", registry_status="blacklisted"
        )


# --- files --------------------------------------------------------------------------------------------


def test_good_csv_market_loads_with_defaults(tmp_path: Path) -> None:
    m = load_market(_write(tmp_path, merchants=_merchants(), listings=_listings()))
    assert isinstance(m, Market)
    assert len(m.merchants) == 3 and len(m.listings) == 4
    assert m.merchants["credit_code"].iloc[1] is None
    assert m.listings["ccc_cert"].iloc[2] is None
    assert m.listings["sales"].iloc[3] == 0  # empty cell: the schema default
    assert m.reviews.empty and m.lab_results.empty
    assert str(m.listings["listed_date"].dtype).startswith("datetime64")


def test_csv_with_a_bad_row_is_refused_with_its_row_number(tmp_path: Path) -> None:
    listings = _listings()
    listings.loc[2, "price"] = "abc"  # data row 3, line 4 of the file
    d = _write(tmp_path, merchants=_merchants(), listings=listings)
    with pytest.raises(RecordError) as e:
        load_market(d)
    err = e.value
    assert err.file.endswith("listings.csv")
    assert (err.row, err.line, err.column) == (3, 4, "price")
    assert "row 3" in str(err) and "line 4" in str(err) and "'price'" in str(err) and "'abc'" in str(err)


def test_date_outside_plausible_range_is_a_record_error(tmp_path: Path) -> None:
    # 3024 parses as a date but not as a pandas timestamp: it must be refused with its row, not crash
    listings = _listings()
    listings.loc[1, "listed_date"] = "3024-03-01"
    with pytest.raises(RecordError) as e:
        load_market(_write(tmp_path, merchants=_merchants(), listings=listings))
    assert (e.value.row, e.value.column) == (2, "listed_date")
    assert "1900-01-01" in e.value.reason


def test_bad_credit_code_row_names_the_column(tmp_path: Path) -> None:
    merchants = _merchants()
    merchants.loc[1, "credit_code"] = GOOD_CODE[:17] + "0"
    with pytest.raises(RecordError) as e:
        read_table(_write(tmp_path, merchants=merchants) / "merchants.csv", "merchants")
    assert (e.value.row, e.value.column) == (2, "credit_code")
    assert "check character" in e.value.reason


def test_several_bad_rows_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    listings = _listings()
    listings.loc[1, "price"] = "-5"
    listings.loc[3, "listed_date"] = "not a date"
    with pytest.raises(RecordError) as e:
        read_table(_write(tmp_path, listings=listings) / "listings.csv", "listings")
    assert (e.value.row, e.value.column) == (2, "price")
    assert "1 more error" in str(e.value)


def test_parquet_bad_row_is_named_too(tmp_path: Path) -> None:
    reviews = pd.DataFrame(
        {"listing_id": ["L1", "L2"], "text": ["很好", "假货"], "rating": [5, 9], "review_date": ["2024-06-01"] * 2}
    )
    path = tmp_path / "reviews.parquet"
    reviews.to_parquet(path)
    with pytest.raises(RecordError) as e:
        read_table(path, "reviews")
    assert (e.value.row, e.value.column, e.value.line) == (2, "rating", None)


def test_missing_column_is_named(tmp_path: Path) -> None:
    d = _write(tmp_path, merchants=_merchants(), listings=_listings().drop(columns=["title"]))
    with pytest.raises(RecordError) as e:
        load_market(d)
    assert e.value.column == "title" and e.value.row is None


def test_unknown_ids_are_refused(tmp_path: Path) -> None:
    listings = _listings()
    listings.loc[3, "merchant_id"] = "M404"
    with pytest.raises(RecordError) as e:
        load_market(_write(tmp_path / "a", merchants=_merchants(), listings=listings))
    assert (e.value.row, e.value.column) == (4, "merchant_id") and "M404" in str(e.value)

    labs = pd.DataFrame(
        {"listing_id": ["L1", "L9"], "sampled_date": ["2024-07-01"] * 2, "plan_id": ["P1"] * 2,
         "verdict": ["pass", "fail"], "failure_types": ["", "quality"]}
    )  # fmt: skip
    with pytest.raises(RecordError) as e:
        load_market(_write(tmp_path / "b", merchants=_merchants(), listings=_listings(), lab_results=labs))
    assert e.value.file.endswith("lab_results.csv") and (e.value.row, e.value.column) == (2, "listing_id")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    merchants = _merchants()
    merchants.loc[2, "merchant_id"] = "M1"
    with pytest.raises(RecordError) as e:
        load_market(_write(tmp_path, merchants=merchants, listings=_listings()))
    assert (e.value.row, e.value.column) == (3, "merchant_id")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "merchants.csv"
    _merchants().to_csv(path, index=False, encoding="gbk")
    with pytest.raises(RecordError, match="UTF-8"):
        read_table(path, "merchants")


def test_missing_tables(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="not a directory"):
        load_market(tmp_path / "nowhere")
    with pytest.raises(RecordError, match="listings table not found"):
        load_market(_write(tmp_path, merchants=_merchants()))


def test_written_market_reads_back_identically(tmp_path: Path) -> None:
    m = load_market(_write(tmp_path / "csv", merchants=_merchants(), listings=_listings()))
    for fmt in ("parquet", "csv"):
        m.write(tmp_path / fmt, fmt=fmt)
        again = load_market(tmp_path / fmt)
        pd.testing.assert_frame_equal(again.listings, m.listings)
        pd.testing.assert_frame_equal(again.merchants, m.merchants)


def test_one_parser_of_failure_types() -> None:
    import pandas as pd

    from features.market import failure_type_flags
    from features.records import join_failure_types, split_failure_types

    assert split_failure_types("counterfeit;three_no") == ["counterfeit", "three_no"]
    assert split_failure_types("counterfeit, quality|three_no") == ["counterfeit", "quality", "three_no"]
    assert split_failure_types(None) == split_failure_types(float("nan")) == split_failure_types("") == []
    assert join_failure_types(["counterfeit", "quality"]) == "counterfeit;quality"
    flags = failure_type_flags(pd.Series(["counterfeit;quality", "", None]), ("counterfeit", "three_no"))
    assert flags["counterfeit"].tolist() == [1.0, 0.0, 0.0] and flags["three_no"].sum() == 0
