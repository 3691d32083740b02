"""Fixtures for the feature-pipeline tests: a small market written by hand.

The market is small enough to reason about row by row: a reappearing seller (new shop, new name,
another platform, the old shop's phone), a shop with no credit code, listings with disguised claims
(國 家 級, zero-width spaces, full-width letters), missing 3C certificates, and reviews with
complaints, including traditional text.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.market import Market, validate_frame
from features.records import credit_code_check_char


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


CODE_A = _code("91330100MA2H3K4L5")
CODE_B = _code("91440300MA5F6G7H8")
CODE_B2 = _code("92440300MA5F6G7J9")


def make_market() -> Market:
    """The hand-built market (validated through the same schemas a user's files go through)."""
    merchants = pd.DataFrame(
        [
            {
                "merchant_id": "M1",
                "platform": "淘宝",
                "shop_name": "鑫源数码专营店",
                "credit_code": CODE_A,
                "phone": "13812345678",
                "region": "浙江省杭州市",
                "opened_date": "2021-03-01",
                "registry_status": "normal",
                "removals_elsewhere": 0,
            },
            {
                "merchant_id": "M2",
                "platform": "拼多多",
                "shop_name": "恒泰电器工厂店",
                "credit_code": CODE_B,
                "phone": "13987654321",
                "region": "广东省深圳市",
                "opened_date": "2019-05-10",
                "registry_status": "serious_violation",
                "removals_elsewhere": 3,
            },
            # M2's seller again: new shell company, new name, another platform, the same phone
            {
                "merchant_id": "M3",
                "platform": "抖音",
                "shop_name": "嘉华优选",
                "credit_code": CODE_B2,
                "phone": "+86 139-8765-4321",
                "region": "广东省深圳市",
                "opened_date": "2024-06-01",
                "registry_status": "normal",
                "removals_elsewhere": 0,
            },
            {
                "merchant_id": "M4",
                "platform": "京东",
                "shop_name": "品胜数码官方店",
                "credit_code": None,
                "phone": None,
                "region": "",
                "opened_date": "2023-01-15",
                "registry_status": "normal",
                "removals_elsewhere": 0,
            },
        ]
    )
    listings = pd.DataFrame(
        [
            {
                "listing_id": "L1",
                "merchant_id": "M1",
                "platform": "淘宝",
                "category": "智能手机",
                "brand": "华为",
                "title": "华为智能手机 全网通 8GB+256GB 官方正品",
                "description": "正品行货，全国联保。",
                "price": 4999.0,
                "sales": 120,
                "ccc_cert": "2021011606123456",
                "listed_date": "2024-01-10",
            },
            {
                "listing_id": "L2",
                "merchant_id": "M1",
                "platform": "淘宝",
                "category": "智能手机",
                "brand": "华为",
                "title": "华为手机 國 家 級 品质 顶级",
                "description": "加微❤信：abc_12345 领优惠！！！",
                "price": 899.0,
                "sales": 40,
                "ccc_cert": None,
                "listed_date": "2024-03-02",
            },
            {
                "listing_id": "L3",
                "merchant_id": "M2",
                "platform": "拼多多",
                "category": "电热水壶",
                "brand": "美的",
                "title": "美的电热水壶 1.7L 医用级不锈钢",
                "description": "国\u200b家\u200b级品质，根治水垢，无副作用",
                "price": 39.0,
                "sales": 800,
                "ccc_cert": "3C认证",
                "listed_date": "2023-08-20",
            },
            {
                "listing_id": "L4",
                "merchant_id": "M2",
                "platform": "拼多多",
                "category": "洗发水",
                "brand": "海飞丝",
                "title": "海飞丝洗发水 ｇａｏ仿 专柜同款 750ml",
                "description": "原单尾货，1：1品质",
                "price": 19.9,
                "sales": 3000,
                "ccc_cert": None,
                "listed_date": "2023-09-01",
            },
            {
                "listing_id": "L5",
                "merchant_id": "M3",
                "platform": "抖音",
                "category": "洗发水",
                "brand": "海飞丝",
                "title": "海飞丝去屑洗发水 750ml",
                "description": "防脱生发，7天见效。详询电话13987654321",
                "price": 29.0,
                "sales": 50,
                "ccc_cert": None,
                "listed_date": "2024-07-01",
            },
            {
                "listing_id": "L6",
                "merchant_id": "M4",
                "platform": "京东",
                "category": "电热水壶",
                "brand": "",
                "title": "家用电热水壶 304不锈钢 自动断电",
                "description": "",
                "price": 59.0,
                "sales": 10,
                "ccc_cert": None,
                "listed_date": "2024-05-05",
            },
            {
                "listing_id": "L7",
                "merchant_id": "M1",
                "platform": "淘宝",
                "category": "智能手机",
                "brand": "小米",
                "title": "小米手机 5G 12GB+512GB",
                "description": "顺丰包邮",
                "price": 2299.0,
                "sales": 300,
                "ccc_cert": "2022011606654321",
                "listed_date": "2024-02-01",
            },
            {
                "listing_id": "L8",
                "merchant_id": "M4",
                "platform": "京东",
                "category": "蚕丝被",
                "brand": "富安娜",
                "title": "富安娜蚕丝被 200x230cm",
                "description": "100%桑蚕丝，治疗失眠",
                "price": 899.0,
                "sales": 20,
                "ccc_cert": None,
                "listed_date": "2024-04-01",
            },
        ]
    )
    reviews = pd.DataFrame(
        [
            {"listing_id": "L1", "text": "手机很好用，物流很快，五星好评", "rating": 5, "review_date": "2024-06-01"},
            {"listing_id": "L1", "text": "屏幕清晰，电池耐用", "rating": 5, "review_date": "2024-07-15"},
            {"listing_id": "L2", "text": "收到的是假货，跟描述不符！", "rating": 1, "review_date": "2024-06-20"},
            {"listing_id": "L2", "text": "這個手機是翻新機，質量很差", "rating": 1, "review_date": "2024-07-01"},
            {"listing_id": "L2", "text": "还行吧", "rating": 3, "review_date": "2024-07-02"},
            {"listing_id": "L3", "text": "用了一周就漏水，有异味", "rating": 2, "review_date": "2024-05-01"},
            {"listing_id": "L3", "text": "烧水快，好用", "rating": 5, "review_date": "2024-05-03"},
            {"listing_id": "L4", "text": "洗完头皮痒，怀疑是假的", "rating": 1, "review_date": "2024-04-04"},
            {"listing_id": "L4", "text": "味道不错", "rating": 4, "review_date": "2024-04-10"},
            {"listing_id": "L5", "text": "效果一般", "rating": 3, "review_date": "2024-08-01"},
            {"listing_id": "L7", "text": "手机很好用，物流很快，五星好评", "rating": 5, "review_date": "2024-07-20"},
            {"listing_id": "L8", "text": "被子很舒服", "rating": 5, "review_date": "2024-06-06"},
        ]
    )
    lab = pd.DataFrame(
        [
            {
                "listing_id": "L3",
                "sampled_date": "2024-06-01",
                "plan_id": "P1",
                "verdict": "fail",
                "failure_types": "false_advertising;quality",
                "cost": 900.0,
                "inclusion_prob": 0.5,
            },
            {
                "listing_id": "L4",
                "sampled_date": "2024-06-01",
                "plan_id": "P1",
                "verdict": "fail",
                "failure_types": "counterfeit",
                "cost": 500.0,
                "inclusion_prob": 0.5,
            },
            {
                "listing_id": "L1",
                "sampled_date": "2024-06-01",
                "plan_id": "P1",
                "verdict": "pass",
                "failure_types": "",
                "cost": 1800.0,
                "inclusion_prob": 0.2,
            },
        ]
    )
    return Market(
        merchants=validate_frame(merchants, "merchants", source="merchants"),
        listings=validate_frame(listings, "listings", source="listings"),
        reviews=validate_frame(reviews, "reviews", source="reviews"),
        lab_results=validate_frame(lab, "lab_results", source="lab_results"),
    )


@pytest.fixture(scope="session")
def feature_market() -> Market:
    """The hand-built market (do not mutate: session-scoped)."""
    return make_market()
