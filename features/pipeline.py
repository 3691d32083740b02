"""`build_pipeline(config)`: the one fitted feature pipeline that training, batch and online scoring share.

    frame = features.listing_frame(market)
    pipe = features.build_pipeline(features.FeatureConfig()).fit(frame)
    X = pipe.transform(frame)                      # float matrix, one row per listing
    names = pipe.get_feature_names_out()           # e.g. "text__title_absolute_claim_hits"
    meanings = features.feature_meanings()         # name (or name prefix) -> (code, zh, en)

The merchant complaint model has its own: `build_merchant_pipeline(config)` over `merchant_frame`.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sklearn.pipeline import FeatureUnion

from features.frames import str_ids
from features.lexicon import KIND_ZH as _KIND_ZH
from features.lexicon import Evidence, Lexicon
from features.market import Market
from features.normalize import normalize
from features.pooling import WithoutColumns, label_blocks, pooling_meanings
from features.transformers import (
    CLAIM_KINDS,
    FAILURE_TYPES,
    OTHER,
    REGISTRY_LEVELS,
    ListingAggregates,
    ListingFeatures,
    ListingTextScores,
    MerchantFeatures,
    PriceFeatures,
    ReviewFeatures,
    TextFeatures,
)


class FeatureConfig(BaseModel):
    """Settings of the feature pipelines; every field has a sensible default."""

    model_config = ConfigDict(extra="forbid")

    text_mode: Literal["tfidf", "hashing", "none"] = Field(
        default="tfidf", description="token features of title + description: TF-IDF vocabulary, hashing, or none"
    )
    text_max_features: int = Field(default=200, ge=1, description="TF-IDF vocabulary size (most frequent tokens)")
    text_min_df: int = Field(default=3, ge=1, description="a token must appear in this many training listings")
    text_ngram_max: int = Field(default=1, ge=1, le=3, description="longest word n-gram")
    hashing_features: int = Field(default=256, ge=8, description="columns when text_mode is hashing")
    category_min_count: int = Field(
        default=1, ge=1, description="category/platform levels rarer than this go to __other__"
    )
    price_min_count: int = Field(
        default=5, ge=1, description="listings a brand (or category) needs for its own price level"
    )
    price_mad_floor: float = Field(default=0.05, gt=0, description="smallest MAD of log price used in z-scores")
    complaint_rating_max: int = Field(default=2, ge=1, le=4, description="a review rated at most this is negative")
    negative_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="complaint probability that makes a review negative"
    )
    recent_days: int = Field(default=90, ge=1, description="window for recent-review features")
    smoothing: float = Field(
        default=5.0, ge=0, description="pseudo-count pulling identity rates toward the market rate"
    )
    as_of: date | None = Field(
        default=None, description="reference date for ages; default: latest date in the training data"
    )
    # label-driven blocks (features/pooling.py); off by default, switched on in configs/train.yaml
    pooled: bool = Field(default=False, description="pool__: shrunk past failure rates of identity, brand, category")
    relative_price: bool = Field(default=False, description="relprice__: price vs branded / unbranded references")
    text_risk: bool = Field(default=False, description="textrisk__: character n-gram regressions on lab labels")
    label_folds: int = Field(default=5, ge=2, description="out-of-fold splits of the label-driven blocks in training")
    merchant_lab_history: bool = Field(
        default=True, description="merchant__lab_*: the identity's lab history, out of fold in training"
    )

    @classmethod
    def from_yaml(cls, path: str | Path) -> FeatureConfig:
        """Load a config from YAML (a mapping of the fields above, or one under a `features:` key)."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and isinstance(data.get("features"), dict):
            data = data["features"]
        return cls.model_validate(data)


def build_pipeline(
    config: FeatureConfig | None = None,
    *,
    review_scorer: Any = None,
    listing_text_model: Any = None,
    listing_text_cross_fitted: Any = None,
    lexicon: Lexicon | None = None,
) -> FeatureUnion:
    """The listing feature pipeline (unfitted) over `listing_frame(market)`.

    Args:
        review_scorer: object with `predict_proba(list[str])` of review complaint probabilities; default
            a lexicon scorer.
        listing_text_model: the transformer listing text model (`models.text.ListingTextModel`); when
            given, its per-failure-type scores of title + description are features (`listing_text__p_*`).
        listing_text_cross_fitted: out-of-fold scores of the listings that model was trained on, used by
            `fit_transform` only (see `ListingTextScores`).
        lexicon: the lexicons to use; default the versioned files in `CHOUJIAN_LEXICON_DIR` (data/lexicons).
    """
    c = config or FeatureConfig()
    lex = lexicon if lexicon is not None else Lexicon.load()
    return FeatureUnion(
        [
            ("listing", ListingFeatures(lexicon=lex, min_count=c.category_min_count, as_of=c.as_of)),
            ("price", PriceFeatures(min_count=c.price_min_count, mad_floor=c.price_mad_floor)),
            (
                "text",
                TextFeatures(
                    lexicon=lex,
                    mode=c.text_mode,
                    max_features=c.text_max_features,
                    min_df=c.text_min_df,
                    ngram_max=c.text_ngram_max,
                    hashing_features=c.hashing_features,
                ),
            ),
            ("reviews", _reviews(c, review_scorer, lex)),
            (
                "merchant",
                _merchant(c) if c.merchant_lab_history else WithoutColumns(transformer=_merchant(c), drop=("lab_",)),
            ),
        ]
        + (
            [("listing_text", ListingTextScores(text_model=listing_text_model, cross_fitted=listing_text_cross_fitted))]
            if listing_text_model is not None
            else []
        )
        + label_blocks(pooled=c.pooled, relative_price=c.relative_price, text_risk=c.text_risk, folds=c.label_folds)
    )


def build_merchant_pipeline(
    config: FeatureConfig | None = None,
    *,
    review_scorer: Any = None,
    lexicon: Lexicon | None = None,
) -> FeatureUnion:
    """The merchant feature pipeline (unfitted) over `merchant_frame(market)`."""
    c = config or FeatureConfig()
    lex = lexicon if lexicon is not None else Lexicon.load()
    return FeatureUnion(
        [
            ("merchant", _merchant(c)),
            ("reviews", _reviews(c, review_scorer, lex)),
            ("listings", ListingAggregates(lexicon=lex)),
        ]
    )


def _reviews(c: FeatureConfig, scorer: Any, lex: Lexicon) -> ReviewFeatures:
    return ReviewFeatures(
        review_scorer=scorer,
        lexicon=lex,
        complaint_rating_max=c.complaint_rating_max,
        negative_threshold=c.negative_threshold,
        recent_days=c.recent_days,
        as_of=c.as_of,
    )


def _merchant(c: FeatureConfig) -> MerchantFeatures:
    return MerchantFeatures(
        smoothing=c.smoothing, complaint_rating_max=c.complaint_rating_max, as_of=c.as_of, folds=c.label_folds
    )


def pipeline_lexicon(pipeline: Any) -> Lexicon | None:
    """The lexicon a fitted (or built) feature pipeline matches with: its text block's, else any block's."""
    steps = dict(getattr(pipeline, "transformer_list", []))
    for name in ("text", *steps):
        block = steps.get(name)
        for attr in ("lexicon_", "lexicon"):
            lex = getattr(block, attr, None)
            if isinstance(lex, Lexicon):
                return lex
    return None


# -- meanings ---------------------------------------------------------------------------------------
class FeatureMeaning(NamedTuple):
    """What a feature means: a stable reason code and a sentence in Chinese and English."""

    code: str
    zh: str
    en: str


_KIND_EN = {"absolute_claim": "absolute claims", "efficacy_claim": "efficacy/medical claims",
            "counterfeit_cue": "counterfeit cues"}  # fmt: skip
_CONTACT_ZH = {"url": "网址", "email": "邮箱", "phone": "电话号码", "wechat": "微信号", "qq": "QQ号"}
_FIELD_ZH = {"title": "标题", "desc": "描述"}
_FIELD_EN = {"title": "title", "desc": "description"}
_TYPE_ZH = {"counterfeit": "假冒", "false_advertising": "虚假宣传", "quality": "质量不合格", "three_no": "三无产品"}


def _text_meanings() -> dict[str, FeatureMeaning]:
    out: dict[str, FeatureMeaning] = {}
    for f in ("title", "desc"):
        zh, en, p = _FIELD_ZH[f], _FIELD_EN[f], f"text__{f}_"
        out[p + "len"] = FeatureMeaning("TEXT_LENGTH", f"{zh}长度", f"length of the {en}")
        for k in CLAIM_KINDS:
            out[p + f"{k}_hits"] = FeatureMeaning(k.upper(), f"{zh}含{_KIND_ZH[k]}", f"{en} contains {_KIND_EN[k]}")
        out[p + "evasion_hits"] = FeatureMeaning(
            "EVASION",
            f"{zh}用空格/繁体/全角等方式规避敏感词",
            f"{en} disguises flagged words (spacing, traditional, width)",
        )
        for k, z in _CONTACT_ZH.items():
            out[p + f"contact_{k}"] = FeatureMeaning(
                "OFF_PLATFORM_CONTACT", f"{zh}留有站外联系方式（{z}）", f"{en} gives off-platform contact ({k})"
            )
        out[p + "contact_mentions"] = FeatureMeaning(
            "OFF_PLATFORM_CONTACT", f"{zh}提及微信/QQ等站外联系", f"{en} mentions WeChat/QQ contact"
        )
        for k in ("shout_runs", "punct_folds", "exclamations"):
            out[p + k] = FeatureMeaning(
                "SHOUTING", f"{zh}大量感叹号或重复标点", f"{en} shouts (!!!, repeated punctuation)"
            )
        out[p + "traditional"] = FeatureMeaning(
            "TRADITIONAL_TEXT", f"{zh}使用繁体字", f"{en} written in traditional characters"
        )
    out["text__repeated_claims"] = FeatureMeaning("REPEATED_CLAIMS", "反复使用同一宣传用语", "the same claim repeated")
    out["text__claim_kinds_present"] = FeatureMeaning(
        "MANY_CLAIM_KINDS", "同时出现多类违规用语", "several kinds of risky wording together"
    )
    out["text__tok"] = FeatureMeaning("TEXT_WORDS", "标题/描述中的词语", "words in the title/description")
    return out


def _review_meanings(prefix: str, whose_zh: str, whose_en: str) -> dict[str, FeatureMeaning]:
    p = f"{prefix}__"
    m = {
        "n": ("REVIEW_COUNT", f"{whose_zh}评价数量", f"number of {whose_en} reviews"),
        "log_n": ("REVIEW_COUNT", f"{whose_zh}评价数量", f"number of {whose_en} reviews"),
        "mean_rating": ("LOW_RATINGS", f"{whose_zh}平均评分低", f"low average rating of {whose_en} reviews"),
        "share_low_rating": (
            "LOW_RATINGS",
            f"{whose_zh}差评（1-2星）比例高",
            f"high share of 1-2 star {whose_en} reviews",
        ),
        "mean_complaint_p": (
            "REVIEW_COMPLAINTS",
            f"{whose_zh}评价中投诉内容多",
            f"{whose_en} reviews read as complaints",
        ),
        "share_complaint_text": (
            "REVIEW_COMPLAINTS",
            f"{whose_zh}评价中投诉内容多",
            f"{whose_en} reviews read as complaints",
        ),
        "share_negative": (
            "NEGATIVE_REVIEWS",
            f"{whose_zh}负面评价比例高",
            f"high share of negative {whose_en} reviews",
        ),
        "n_negative": ("NEGATIVE_REVIEWS", f"{whose_zh}负面评价数量多", f"many negative {whose_en} reviews"),
        "fake_mention_rate": ("REVIEWS_SAY_FAKE", f"{whose_zh}评价提到假货", f"{whose_en} reviews say it is fake"),
        "n_fake_mentions": ("REVIEWS_SAY_FAKE", f"{whose_zh}评价提到假货", f"{whose_en} reviews say it is fake"),
        "days_since_last": ("REVIEW_RECENCY", f"{whose_zh}最近评价时间", f"time since the last {whose_en} review"),
        "days_since_first": ("REVIEW_RECENCY", f"{whose_zh}首条评价时间", f"time since the first {whose_en} review"),
        "share_recent": ("REVIEW_RECENCY", f"{whose_zh}近期评价比例", f"share of recent {whose_en} reviews"),
        "n_recent": ("REVIEW_RECENCY", f"{whose_zh}近期评价数量", f"number of recent {whose_en} reviews"),
    }
    return {p + k: FeatureMeaning(*v) for k, v in m.items()}


def _merchant_meanings() -> dict[str, FeatureMeaning]:
    p = "merchant__"
    reg_zh = {"normal": "正常", "abnormal_operations": "列入经营异常名录", "serious_violation": "列入严重违法失信名单",
              "revoked": "已吊销/注销"}  # fmt: skip
    out = {
        f"{p}registry={s}": FeatureMeaning(
            "REGISTRY_STATUS", f"店铺主体登记状态：{reg_zh.get(s, s)}", f"business registry status: {s}"
        )
        for s in (*REGISTRY_LEVELS, OTHER)
    }
    m = {
        "platform=": ("PLATFORM", "店铺所在平台", "the shop's platform"),
        "shop_age_days": ("NEW_SHOP", "店铺开店时间短", "young shop"),
        "removals_elsewhere": ("REMOVED_ELSEWHERE", "店铺曾在其他平台被下架/关店", "shop removed from other platforms"),
        "has_credit_code": ("NO_CREDIT_CODE", "未公示统一社会信用代码", "no unified social credit code shown"),
        "individual_business": ("INDIVIDUAL_BUSINESS", "个体工商户经营", "run as an individual business"),
        "has_phone": ("NO_PHONE", "未留联系电话", "no phone number"),
        "identity_known": ("LINKED_IDENTITY", "关联到已知经营者", "linked to a known seller identity"),
        "identities_matched": ("LINKED_IDENTITY", "关联到多个已知经营者", "linked to several known identities"),
        "linked_by_code": ("LINKED_IDENTITY", "与其他店铺共用信用代码", "shares a credit code with other shops"),
        "linked_by_phone": ("LINKED_IDENTITY", "与其他店铺共用电话", "shares a phone with other shops"),
        "linked_by_name": ("LINKED_IDENTITY", "与其他店铺同名", "same shop name as other shops"),
        "identity_shops": ("MANY_SHOPS", "同一经营者开设多家店铺", "the seller runs many shops"),
        "identity_platforms": ("MANY_SHOPS", "同一经营者跨多个平台", "the seller is on several platforms"),
        "identity_removals": ("IDENTITY_REMOVALS", "关联店铺曾被下架/关店", "linked shops were removed elsewhere"),
        "identity_bad_registry": (
            "IDENTITY_BAD_REGISTRY",
            "关联店铺登记状态异常",
            "linked shops have bad registry status",
        ),
        "lab_tests": ("PAST_LAB_TESTS", "经营者历史抽检次数", "past lab tests of this seller"),
        "lab_fails": ("PAST_LAB_FAILS", "经营者历史抽检不合格", "past lab failures of this seller"),
        "lab_fail_rate": ("PAST_LAB_FAILS", "经营者历史抽检不合格率高", "high past lab failure rate of this seller"),
        "identity_reviews": ("REVIEW_COUNT", "经营者全部评价数量", "reviews across the seller's shops"),
        "identity_low_reviews": ("SELLER_COMPLAINTS", "经营者差评/投诉多", "many complaints about the seller"),
        "identity_low_review_rate": ("SELLER_COMPLAINTS", "经营者差评/投诉率高", "high complaint rate of the seller"),
    }
    out.update({p + k: FeatureMeaning(*v) for k, v in m.items()})
    for t in FAILURE_TYPES:
        out[f"{p}lab_fail_rate_{t}"] = FeatureMeaning(
            "PAST_LAB_FAILS", f"经营者历史抽检{_TYPE_ZH[t]}", f"past lab failures of this seller ({t})"
        )
    return out


@lru_cache(maxsize=1)
def _all_meanings() -> dict[str, FeatureMeaning]:
    out: dict[str, FeatureMeaning] = {
        "listing__category=": FeatureMeaning("CATEGORY", "商品类目", "product category"),
        "listing__platform=": FeatureMeaning("PLATFORM", "所在平台", "platform"),
        "listing__ccc_required": FeatureMeaning("CCC_CATEGORY", "属于3C强制认证类目", "a compulsory-3C category"),
        "listing__ccc_term_in_title": FeatureMeaning(
            "CCC_CATEGORY", "标题含3C强制认证产品", "title names a compulsory-3C product"
        ),
        "listing__ccc_cert_present": FeatureMeaning("CCC_MISSING", "未展示3C证书编号", "no 3C certificate shown"),
        "listing__ccc_missing": FeatureMeaning(
            "CCC_MISSING", "3C强制认证类目却未展示证书", "compulsory 3C certificate missing"
        ),
        "listing__ccc_cert_malformed": FeatureMeaning(
            "CCC_MALFORMED", "3C证书编号格式不正确", "3C certificate number malformed"
        ),
        "listing__listing_age_days": FeatureMeaning("NEW_LISTING", "商品上架时间", "listing age"),
        "listing__log_sales": FeatureMeaning("SALES", "销量", "sales volume"),
        "listing__unbranded": FeatureMeaning("UNBRANDED", "无品牌（白牌）商品", "unbranded product"),
        "listing__has_description": FeatureMeaning("NO_DESCRIPTION", "缺少商品描述", "no description"),
        "price__log_price": FeatureMeaning("PRICE", "价格", "price"),
        "price__z_brand": FeatureMeaning(
            "PRICE_VS_BRAND", "价格明显偏离该品牌正常价位", "price far from the brand's usual level"
        ),
        "price__ratio_to_brand_level": FeatureMeaning(
            "PRICE_VS_BRAND", "价格明显偏离该品牌正常价位", "price far from the brand's usual level"
        ),
        "price__brand_level_known": FeatureMeaning("PRICE_VS_BRAND", "品牌价位已知", "brand price level known"),
        "price__z_category": FeatureMeaning(
            "PRICE_VS_CATEGORY", "价格明显偏离类目正常价位", "price far from the category's level"
        ),
        "price__category_level_known": FeatureMeaning(
            "PRICE_VS_CATEGORY", "类目价位已知", "category price level known"
        ),
        "price__z_market": FeatureMeaning("PRICE", "价格水平", "price level"),
    }
    out.update(_text_meanings())
    out["listing_text__p_counterfeit"] = FeatureMeaning(
        "TEXT_MODEL_COUNTERFEIT",
        "文本模型读出标题/描述有假冒迹象",
        "the text model reads the title/description as counterfeit",
    )
    out["listing_text__p_false_advertising"] = FeatureMeaning(
        "TEXT_MODEL_FALSE_AD",
        "文本模型读出标题/描述有虚假宣传迹象",
        "the text model reads the title/description as false advertising",
    )
    out.update({k: FeatureMeaning(*v) for k, v in pooling_meanings().items()})
    out.update(_review_meanings("reviews", "本商品", "this listing's"))
    out.update(_merchant_meanings())
    # merchant pipeline: reviews over all the merchant's listings, and listing aggregates
    out.update(
        {
            "listings__n_listings": FeatureMeaning("MANY_LISTINGS", "在售商品数量", "number of listings"),
            "listings__n_categories": FeatureMeaning("MANY_CATEGORIES", "经营类目数量", "number of categories sold"),
            "listings__n_ccc_missing": FeatureMeaning(
                "CCC_MISSING", "多件3C类商品未展示证书", "3C certificates missing"
            ),
            "listings__share_ccc_missing": FeatureMeaning(
                "CCC_MISSING", "3C类商品未展示证书比例高", "share missing 3C"
            ),
            "listings__share_offsite_contact": FeatureMeaning(
                "OFF_PLATFORM_CONTACT", "商品页留有站外联系方式", "listings give off-platform contact"
            ),
            **{
                f"listings__share_{k}": FeatureMeaning(
                    k.upper(), f"商品含{_KIND_ZH[k]}的比例", f"share of listings with {_KIND_EN[k]}"
                )
                for k in CLAIM_KINDS
            },
        }
    )
    return out


def feature_meanings() -> dict[str, FeatureMeaning]:
    """Human meanings of every feature of both pipelines: `name or name-prefix -> (code, zh, en)`.

    Columns learned at fit time (category levels, TF-IDF tokens) are covered by their prefix
    (`listing__category=`, `text__tok`), which `models.explain.resolve_meanings` matches.
    """
    return dict(_all_meanings())


# -- evidence ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    return Lexicon.load()


def evidence(
    market: Market, *, lexicon: Lexicon | None = None, kinds: tuple[str, ...] = CLAIM_KINDS
) -> dict[str, list[Evidence]]:
    """Lexicon hits of `kinds` in each listing's title and description, spans in the original text.

    Keyed by listing id, in the listings' order (so `.values()` is one list per listing).
    """
    lex = lexicon if lexicon is not None else _default_lexicon()
    out: dict[str, list[Evidence]] = {}
    frame = market.listings  # evidence reads only the listing's own text
    for lid, title, desc in zip(str_ids(frame["listing_id"]), frame["title"], frame["description"], strict=True):
        ev: list[Evidence] = []
        for field_name, text in (("title", title), ("description", desc)):
            if not isinstance(text, str) or not text:
                continue
            for h in lex.find(normalize(text)):
                if h.kind not in kinds:
                    continue
                ev.append(
                    Evidence(kind=h.kind, phrase=h.phrase, field=field_name, start=h.start, end=h.end, text=h.text)  # type: ignore[arg-type]
                )
        out[lid] = ev
    return out


__all__ = [
    "FeatureConfig",
    "FeatureMeaning",
    "build_merchant_pipeline",
    "build_pipeline",
    "evidence",
    "feature_meanings",
]
