"""Market B: a second simulated market, same schema as `training.simulator`, a different generative story.

It exists to evaluate, never to train or tune: a pipeline that scores well on the first simulator only
because it learnt that simulator's story falls short here (`training.crossworld`). Its vocabulary below was
written for this world alone (no phrase list of `training.sim_vocab` is used), and where the first story
says A, this one deliberately says something else:

1. **Who fails and why.** Sellers are shops of *supply networks* (a distributor and the shops it stocks),
   not individuals with a latent dishonesty. A network is `grey` (sources counterfeit stock), `sloppy`
   (cuts corners: unlabelled goods, copied claims, weak quality control) or `clean`. The lab outcome is
   driven by the stock's latent state: a fake unit fails the counterfeit test nearly always whatever its
   listing says; a written claim fails when it is false, and claims are false far more often in grey
   and sloppy networks; quality fails with the category's risk, the shop's care and, for electrical
   goods only, cheap unbranded stock; three-no fails on missing maker details. No additive "observable
   logit + hidden terms" as in the first world.
2. **Brands and prices.** A brand sells several product tiers (entry to flagship, a 3-6x price spread), so
   one brand's prices are wide. Counterfeits are mostly priced *close to the genuine tier price* (70%
   within ~15% below it; 30% deep discounts). Unbranded goods are common, honest as a rule, and cheap
   (a quarter to a half of the category's branded price); many carry a one-shop factory brand name
   rather than an empty brand field.
3. **Linking.** A network's shops share the operator's phone (often) or a credit code (sometimes); their
   own registry status and removals are weak signals (lax enforcement), so only pooled history through
   linked shops shows a grey network. There is no "reappear under a new name" story.
4. **Phrasing and disguise.** Grey sellers hint at fakes with their own trade phrases, some of them in
   the product's lexicons and most not, and disguise them with their own tricks: a look-alike Han
   character 丨 between characters (not a filler the normaliser removes), pinyin initials for words,
   homophone characters, and the symbol and full-width tricks the normaliser does fold. Honest cheap
   unbranded shops write "factory direct, value for money" phrases that look suspicious to a naive model.
5. **Reviews** are real texts from the corpus TRAIN split (`training.corpus`), drawn by category and by
   the buyer's experience; fewer per listing than in the first world, and counterfeits priced like the
   real thing rarely draw a review that calls them fake (buyers cannot tell).
6. **Past plans.** Three rounds, each a *stratified* design: a fixed quota per category, and within a
   category Poisson sampling with probability proportional to a complaint-and-popularity heuristic (low
   ratings so far, sales, live-commerce platforms) mixed with a uniform part. Every recorded
   `inclusion_prob` is the exact probability that round's design had of choosing the listing.

`simulate_b(n_merchants, n_listings, seed=...)` returns a `training.simulator.Simulation`, written with
`write_simulation` like the first world's (tables, ground truth, manifest.json).
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.market import Market, failure_type_flags
from features.records import LabResult
from training.simulator import (
    Simulation,
    _components,
    _credit_codes,
    _days,
    _phones,
    _sigmoid,
    _to_dates,
    _unique_draw,
    auc,
)

logger = logging.getLogger(__name__)

WORLD_VERSION = "b-1.0.0"
FAILURE_TYPES = ("counterfeit", "false_advertising", "quality", "three_no")
ROUNDS = (("CC-2024-Q2", date(2024, 6, 1)), ("CC-2025-Q1", date(2025, 3, 1)), ("CC-2025-Q4", date(2025, 10, 1)))
LISTED_FROM, LISTED_TO, MARKET_DATE = date(2023, 3, 1), date(2025, 9, 30), date(2025, 11, 30)
NETWORK_KINDS = ("clean", "sloppy", "grey")


@dataclass(frozen=True)
class BrandB:
    """A brand of market B: genuine prices of its product tiers, and how much counterfeiters want it."""

    name: str
    tiers: tuple[float, ...]
    faked: float  # 0 = nobody fakes it, 1 = the most faked brand


@dataclass(frozen=True)
class CategoryB:
    """One category of market B."""

    name: str
    weight: float
    ccc: bool
    electrical: bool  # cheap unbranded units fail safety tests
    corpus: tuple[tuple[str, float], ...]  # online_shopping_10_cats categories its reviews come from
    lab_fee: float
    white_share: float
    quality_base: float  # logit of a quality failure for a careful shop's branded unit
    brands: tuple[BrandB, ...]
    products: tuple[str, ...]
    specs: tuple[str, ...]
    claims: tuple[str, ...]  # claims a lab can check (composition, efficacy, safety)


# fmt: off
CATEGORIES_B: tuple[CategoryB, ...] = (
    CategoryB("智能手机", 8, True, True, (("手机", 1.0),), 1900, 0.03, -3.2,
        (BrandB("华为", (1499, 3999, 6999), 0.9), BrandB("苹果", (4399, 5999, 8999), 1.0),
         BrandB("小米", (899, 1999, 4299), 0.6), BrandB("vivo", (999, 2699, 4999), 0.4),
         BrandB("荣耀", (899, 1799, 3999), 0.3)),
        ("手机", "5G手机", "老人机", "学生手机"), ("128G", "256G", "512G", "双卡"),
        ("电池寿命五年", "防水等级IP68", "原装屏幕")),
    CategoryB("移动电源", 6, True, True, (), 1100, 0.35, -2.0,
        (BrandB("安克", (99, 169, 299), 0.5), BrandB("小米", (69, 129, 199), 0.7),
         BrandB("罗马仕", (59, 99, 159), 0.4)),
        ("充电宝", "快充移动电源", "磁吸充电宝"), ("10000mAh", "20000mAh", "PD快充"),
        ("实际容量足量", "航空可带", "电芯不鼓包")),
    CategoryB("电热水壶", 6, True, True, (("热水器", 0.6),), 850, 0.3, -2.2,
        (BrandB("美的", (79, 139, 259), 0.4), BrandB("苏泊尔", (89, 149, 239), 0.4),
         BrandB("九阳", (69, 119, 219), 0.3)),
        ("电水壶", "烧水壶", "保温壶"), ("1.5升", "1.7升", "316内胆"),
        ("316食品级内胆", "沸腾自动断电", "无塑料异味")),
    CategoryB("电线电缆", 4, True, True, (), 1300, 0.35, -1.4,
        (BrandB("正泰", (189, 299, 459), 0.5), BrandB("德力西", (179, 289, 429), 0.5),
         BrandB("远东", (219, 339, 499), 0.6)),
        ("铜芯电线", "阻燃电缆", "家装线"), ("2.5平方", "4平方", "100米"),
        ("无氧纯铜芯", "国标足米", "阻燃达标")),
    CategoryB("纸尿裤", 7, False, False, (), 650, 0.15, -2.6,
        (BrandB("帮宝适", (69, 119, 189), 0.8), BrandB("花王", (89, 139, 199), 1.0),
         BrandB("好奇", (59, 109, 179), 0.6)),
        ("纸尿裤", "拉拉裤", "尿不湿"), ("S码", "M码", "L码", "XL码"),
        ("日本原装进口", "无荧光剂", "不含香精")),
    CategoryB("洗发水", 8, False, False, (("洗发水", 1.0),), 480, 0.2, -2.7,
        (BrandB("海飞丝", (39, 69, 129), 0.7), BrandB("潘婷", (29, 59, 99), 0.5),
         BrandB("资生堂", (89, 159, 269), 0.9), BrandB("吕", (59, 99, 169), 0.8)),
        ("洗发水", "洗发露", "护发套装"), ("400ml", "750ml", "家庭装"),
        ("无硅油配方", "氨基酸表活", "药监备案防脱")),
    CategoryB("服装", 11, False, False, (("衣服", 1.0),), 420, 0.45, -2.5,
        (BrandB("耐克", (199, 499, 1299), 1.0), BrandB("阿迪达斯", (179, 459, 1099), 0.9),
         BrandB("优衣库", (79, 149, 399), 0.3), BrandB("波司登", (499, 999, 2299), 0.7)),
        ("运动鞋", "卫衣", "羽绒服", "T恤"), ("均码", "M", "L", "XL"),
        ("含绒量90%", "纯棉面料", "不起球")),
    CategoryB("水果", 8, False, False, (("水果", 1.0),), 520, 0.75, -2.4,
        (BrandB("佳沛", (69, 129, 199), 0.5), BrandB("褚橙", (59, 99, 159), 0.6)),
        ("猕猴桃", "脐橙", "苹果", "葡萄"), ("5斤装", "3斤装", "礼盒"),
        ("零农残", "有机认证", "非转基因")),
    CategoryB("牛奶", 5, False, False, (("蒙牛", 1.0),), 600, 0.1, -3.0,
        (BrandB("蒙牛", (49, 69, 99), 0.4), BrandB("伊利", (45, 65, 95), 0.4),
         BrandB("特仑苏", (69, 89, 129), 0.6)),
        ("纯牛奶", "儿童奶", "高钙奶"), ("250ml*12", "250ml*24", "整箱"),
        ("蛋白质含量3.6g", "0添加", "有机奶源")),
    CategoryB("儿童玩具", 6, True, False, (), 880, 0.5, -2.0,
        (BrandB("乐高", (199, 499, 1299), 1.0), BrandB("费雪", (99, 199, 399), 0.5)),
        ("积木", "拼装玩具", "早教机"), ("3岁+", "6岁+", "礼盒装"),
        ("环保ABS材质", "小零件不脱落", "无毒可啃咬")),
    CategoryB("蚕丝被", 4, False, False, (("衣服", 0.2),), 720, 0.4, -2.1,
        (BrandB("罗莱", (599, 1099, 1999), 0.7), BrandB("富安娜", (499, 899, 1699), 0.6)),
        ("蚕丝被", "夏凉被", "冬被"), ("150x200", "200x230", "4斤"),
        ("100%桑蚕丝填充", "A类母婴标准", "天然抗螨")),
    CategoryB("电吹风", 5, True, True, (), 900, 0.35, -2.4,
        (BrandB("戴森", (1999, 2999, 3999), 1.0), BrandB("松下", (199, 399, 699), 0.5),
         BrandB("飞科", (59, 99, 199), 0.3)),
        ("吹风机", "高速吹风机", "负离子吹风筒"), ("1600W", "2000W", "折叠款"),
        ("负离子浓度千万级", "不伤发", "过热保护")),
)

#: absolute and efficacy phrasing of this world's sellers
CLAIMS_B = (
    "医美级", "药监认证", "专家推荐", "三甲医院同款", "一次见效", "零添加", "孕妇可用", "秒杀大牌",
    "全网独一份", "用过都说好", "顶流推荐", "官方检测合格", "十年质保", "永久不坏",
)
#: counterfeit hints of this world's grey sellers (some in the product's lexicons, most not)
CUES_B = (
    "柜台同步", "原厂原料", "细节放大可见", "对版", "无盒无吊牌", "代工厂流出", "内部渠道", "剪标",
    "撕标货", "大厂代工", "懂货的拍", "原装品质", "品牌断码清仓", "渠道货", "品牌尾货",
)
#: what honest cheap unbranded shops write
HONEST_CHEAP = ("工厂直发", "平价好物", "性价比之选", "简约无logo", "源头工厂", "白牌实惠装", "自产自销")
#: pinyin initials sellers write for some words (disguise that survives normalisation)
INITIALS = {"专柜": "zg", "原厂": "yc", "渠道": "qd", "代工": "dg", "同步": "tb", "品质": "pz", "官方": "gf"}
#: homophone swaps (same sound, other character)
HOMOPHONES = {"柜": "贵", "渠": "区", "原": "元", "标": "彪", "货": "伙", "版": "板", "代": "袋"}
TIER_NAMES = ("青春版", "标准版", "旗舰版")
PLATFORMS_B = (("淘宝", 0.25), ("天猫", 0.1), ("京东", 0.12), ("拼多多", 0.2), ("抖音", 0.18), ("快手", 0.1),
               ("闲鱼", 0.05))
LIVE = {"抖音", "快手"}
REGIONS_B = (("440300", "广东省深圳市", 0.2), ("330782", "浙江省义乌市", 0.15), ("350300", "福建省莆田市", 0.08),
             ("440100", "广东省广州市", 0.15), ("320500", "江苏省苏州市", 0.1), ("310000", "上海市", 0.1),
             ("420100", "湖北省武汉市", 0.08), ("510100", "四川省成都市", 0.07), ("370200", "山东省青岛市", 0.07))
NAME_HEADS = ("云", "禾", "铭", "皓", "川", "沐", "岚", "予", "橙", "栗", "屿", "拾", "初", "野", "青", "朴")
NAME_TAILS = ("好物", "生活馆", "百货", "严选铺", "集合店", "数码", "家居", "服饰", "优品", "直营店")
FACTORY_BRAND_TAILS = ("家", "优品", "良造", "工坊", "生活")
# fmt: on
_FAKE_MENTION = re.compile(r"假货|假的|不是正品|仿品|山寨|假冒|水货")


def _disguise(phrase: str, r: random.Random) -> str:
    """This world's disguises: 丨 between characters, pinyin initials, homophones, or foldable fillers."""
    trick = r.randrange(4)
    if trick == 0 and len(phrase) > 1:
        return "丨".join(phrase)
    if trick == 1:
        for word, ini in INITIALS.items():
            if word in phrase:
                return phrase.replace(word, ini)
    if trick in (1, 2):
        for ch, alt in HOMOPHONES.items():
            if ch in phrase:
                return phrase.replace(ch, alt)
    return "★".join(phrase)


def _networks(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """Networks and their shops: kind, care, platform, linking keys."""
    kind_p = {"clean": 0.68, "sloppy": 0.2, "grey": 0.12}
    n_net = m
    kind = rng.choice(3, n_net, p=[kind_p[k] for k in NETWORK_KINDS])
    size = np.where(kind == 2, 1 + rng.poisson(2.5, n_net), np.where(kind == 1, 1 + rng.poisson(0.8, n_net), 1))
    size = np.where((kind == 0) & (rng.random(n_net) < 0.1), 2, size)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    keep = start < m
    kind, size, start = kind[keep], size[keep], start[keep]
    size[-1] = m - start[-1]
    net = np.repeat(np.arange(len(size)), size)
    return {"net": net, "kind": kind[net], "net_size": size[net], "first": np.r_[True, net[1:] != net[:-1]]}


def _merchants(rng: np.random.Generator, r: random.Random, m: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Shops of supply networks: linking keys, weak registry signals, platforms, care, names, complaints."""
    w = _networks(rng, m)
    kind, net = w["kind"], w["net"]
    region, code, phone, no_code = _linking_keys(rng, w, m)
    # lax enforcement: statuses and removals hardly depend on the network
    u = rng.random(m)
    status = np.select(
        [u < 0.012 + 0.01 * (kind == 2), u < 0.03 + 0.015 * (kind == 2), u < 0.09 + 0.03 * (kind > 0)],
        ["serious_violation", "revoked", "abnormal_operations"],
        "normal",
    )
    removals = (rng.random(m) < np.where(kind == 2, 0.12, 0.05)) * (1 + rng.poisson(0.3, m))
    plat_names = np.array([p[0] for p in PLATFORMS_B])
    plat_w = np.array([p[1] for p in PLATFORMS_B])
    grey_w = plat_w * np.where(np.isin(plat_names, list(LIVE) + ["拼多多", "闲鱼"]), 2.0, 0.4)
    platform = np.where(
        kind == 2,
        rng.choice(len(plat_names), m, p=grey_w / grey_w.sum()),
        rng.choice(len(plat_names), m, p=plat_w / plat_w.sum()),
    )
    care = rng.normal(0.0, 1.0, m) - 1.0 * (kind == 1) - 0.4 * (kind == 2)
    primary, authorised, auth_brand, names = _shop_names(rng, r, kind, plat_names[platform])
    opened = rng.integers(_days(date(2015, 1, 1)), _days(date(2025, 3, 1)), m)
    complaint = _sigmoid(-2.3 - 0.5 * care + 0.6 * (kind == 2) + rng.normal(0, 0.4, m))
    ids = np.char.add("B", np.char.zfill(np.arange(1, m + 1).astype(str), 6))
    merchants = pd.DataFrame(
        {
            "merchant_id": ids,
            "platform": plat_names[platform],
            "shop_name": names,
            "credit_code": code,
            "phone": phone,
            "region": region,
            "opened_date": _to_dates(opened),
            "registry_status": status.astype(str),
            "removals_elsewhere": removals.astype(int),
        }
    )
    merchants["credit_code"] = merchants["credit_code"].where(merchants["credit_code"].notna(), None)
    comp = _components(list(code), list(phone))
    shop = {
        "net": net,
        "kind": kind,
        "care": care,
        "platform": plat_names[platform],
        "primary": primary,
        "authorised": authorised,
        "auth_brand": auth_brand,
        "opened": opened,
        "no_code": no_code,
        "complaint": complaint,
        "region": region,
        "linked": pd.Series(comp).map(pd.Series(comp).value_counts()).to_numpy() > 1,
    }
    return merchants, shop


def _linking_keys(
    rng: np.random.Generator, w: dict[str, np.ndarray], m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each shop's region (its network's), credit code and phone: a network's shops share the operator's phone
    (70%) or, less often, the network's credit code; some show no code. Returns region names, codes, phones and
    the no-code flags."""
    kind, net = w["kind"], w["net"]
    n_net = int(net.max()) + 1
    reg_codes = np.array([x[0] for x in REGIONS_B])
    reg_names = np.array([x[1] for x in REGIONS_B])
    reg_w = np.array([x[2] for x in REGIONS_B])
    region_net = rng.choice(len(REGIONS_B), n_net, p=reg_w / reg_w.sum())
    region = region_net[net]
    individual = rng.random(m) < 0.45
    code = _unique_draw(lambda ix: _credit_codes(rng, reg_codes[region[ix]], individual[ix]), m).astype(object)
    phone = _unique_draw(lambda ix: _phones(rng, len(ix)), m).astype(object)
    first_of_net = np.searchsorted(net, np.arange(n_net))
    lead = first_of_net[net]
    multi = w["net_size"] > 1
    share_phone = multi & ~w["first"] & (rng.random(m) < 0.7)
    share_code = multi & ~w["first"] & ~share_phone & (rng.random(m) < 0.35)
    phone[share_phone] = phone[lead[share_phone]]
    code[share_code] = code[lead[share_code]]
    no_code = ~share_code & ~w["first"] & (rng.random(m) < np.where(kind == 1, 0.3, 0.06))
    no_code |= w["first"] & (rng.random(m) < np.where(kind == 1, 0.25, 0.04))
    code[no_code] = None
    return reg_names[region], code, phone, no_code


def _shop_names(
    rng: np.random.Generator, r: random.Random, kind: np.ndarray, platform: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Primary category, brand-authorised shops (clean networks on 天猫 / 京东) and shop names."""
    m = len(kind)
    cats = CATEGORIES_B
    cw = np.array([c.weight for c in cats], dtype=float)
    primary = rng.choice(len(cats), m, p=cw / cw.sum())
    authorised = (kind == 0) & np.isin(platform, ["天猫", "京东"]) & (rng.random(m) < 0.3)
    auth_brand = np.array([r.randrange(len(cats[p].brands)) for p in primary])
    names = []
    for i in range(m):
        c = cats[primary[i]]
        if authorised[i]:
            names.append(f"{c.brands[auth_brand[i]].name}{r.choice(['品牌授权店', '官方授权专营', '自营店'])}")
        else:
            names.append("".join(r.sample(NAME_HEADS, 3)) + r.choice(NAME_TAILS))
    return primary, authorised, auth_brand, names


def _listings(
    rng: np.random.Generator, r: random.Random, shop: dict[str, np.ndarray], n: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Listings with tiered brands, prices, flags and texts; returns the latent draws alongside."""
    kind = shop["kind"]
    weight = rng.lognormal(0.0, 0.9, len(kind)) * np.where(kind == 2, 1.4, 1.0)
    m = len(kind)
    counts = 1 + rng.multinomial(n - m, weight / weight.sum()) if n >= m else rng.multinomial(n, weight / weight.sum())
    s = np.repeat(np.arange(m), counts)
    lat: dict[str, np.ndarray] = {"s": s, "kind": kind[s]}
    brand = _brands(rng, shop, lat)
    _stock(rng, shop, lat, brand)
    _flags(rng, shop, lat)
    titles, descs, certs = _listing_texts(r, shop, lat, brand)
    listings = pd.DataFrame(
        {
            "listing_id": np.char.add("BL", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
            "merchant_id": np.char.add("B", np.char.zfill((s + 1).astype(str), 6)),
            "platform": shop["platform"][s],
            "category": np.array([c.name for c in CATEGORIES_B])[lat["cat"]],
            "brand": brand.astype(str),
            "title": titles,
            "description": descs,
            "price": np.round(lat["price"], 2),
            "sales": lat["sales"].astype(int),
            "ccc_cert": pd.Series(certs, dtype=object),
            "listed_date": _to_dates(lat["listed"]),
        }
    )
    return listings, lat


def _brands(rng: np.random.Generator, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> np.ndarray:
    """Category, authorised, white label, product tier, brand and its genuine tier price of each listing, into
    `lat`; returns the brand as written."""
    s, k = lat["s"], lat["kind"]
    n = len(s)
    cats = CATEGORIES_B
    cw = np.array([c.weight for c in cats], dtype=float)
    cat = np.where(rng.random(n) < 0.75, shop["primary"][s], rng.choice(len(cats), n, p=cw / cw.sum()))
    auth = shop["authorised"][s] & (cat == shop["primary"][s])
    white_share = np.array([c.white_share for c in cats])[cat]
    white = ~auth & (rng.random(n) < np.clip(white_share * np.where(k == 1, 1.6, 1.0), 0, 0.95))
    brand = np.full(n, "", dtype=object)
    faked = np.zeros(n)
    genuine = np.zeros(n)
    tier = rng.integers(0, 3, n)
    for ci, c in enumerate(cats):
        rows = np.flatnonzero((cat == ci) & ~white)
        if not len(rows):
            continue
        pick = rng.integers(0, len(c.brands), len(rows))
        pick = np.where(auth[rows], shop["auth_brand"][s[rows]] % len(c.brands), pick)
        brand[rows] = np.array([b.name for b in c.brands], dtype=object)[pick]
        faked[rows] = np.array([b.faked for b in c.brands])[pick]
        genuine[rows] = np.array([b.tiers for b in c.brands])[pick, tier[rows]]
    white_level = np.array([0.35 * float(np.median([b.tiers[1] for b in c.brands])) for c in cats])[cat]
    lat.update(cat=cat, auth=auth, white=white, faked=faked, genuine=genuine, tier=tier, white_level=white_level)
    return brand


def _stock(
    rng: np.random.Generator, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray], brand: np.ndarray
) -> None:
    """Fake stock (grey networks, counterfeiters' favourite brands), prices (fakes mostly close to the genuine
    tier price), one-shop factory brands on white labels (written into `brand`) and sales, into `lat`."""
    s, k, white, auth = lat["s"], lat["kind"], lat["white"], lat["auth"]
    n, m = len(s), len(shop["kind"])
    p_fake = np.select([k == 2, k == 1], [0.6, 0.06], 0.008) * lat["faked"]
    fake = ~white & ~auth & (rng.random(n) < p_fake)
    close = rng.random(n) < 0.7
    log_ratio = np.where(
        fake,
        np.where(close, rng.normal(-0.1, 0.07, n), rng.normal(-0.65, 0.25, n)),
        rng.normal(-0.03, 0.1, n),
    )
    price_raw = np.where(white, lat["white_level"] * rng.lognormal(0.0, 0.35, n), lat["genuine"] * np.exp(log_ratio))
    price = np.where(price_raw >= 50, np.round(price_raw) - 0.1, np.maximum(np.round(price_raw, 1), 0.9))
    # one-shop factory brands: unbranded goods under a name nobody else uses
    fb = white & (rng.random(n) < 0.45)
    heads = np.array(NAME_HEADS)[rng.integers(0, len(NAME_HEADS), m)]
    tails = np.array(FACTORY_BRAND_TAILS)[rng.integers(0, len(FACTORY_BRAND_TAILS), m)]
    brand[fb] = np.char.add(np.char.add(heads[s[fb]], heads[(s[fb] + 7) % m]), tails[s[fb]])
    brand[white & ~fb & (rng.random(n) < 0.4)] = "无"
    sales = np.floor(rng.lognormal(2.8 + 0.5 * auth + 0.4 * np.isin(shop["platform"][s], list(LIVE)), 1.4, n))
    lat.update(fake=fake, price=price, sales=sales)


def _flags(rng: np.random.Generator, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> None:
    """Missing 3C numbers and maker details, written claims (and how many are false), counterfeit cues, honest
    cheap phrasing, disguise and the listing date, into `lat`."""
    s, k, white = lat["s"], lat["kind"], lat["white"]
    n = len(s)
    cats = CATEGORIES_B
    ccc_cat = np.array([c.ccc for c in cats])[lat["cat"]]
    ccc_missing = ccc_cat & (rng.random(n) < np.select([k == 1, k == 2], [0.35, 0.2], 0.03) + 0.1 * white)
    no_mfr = rng.random(n) < np.select([k == 1, k == 2], [0.45, 0.3], 0.04) * np.where(white, 1.5, 0.6)
    # claims: every listing may write some; each written claim is false with a network-dependent chance
    n_claims = np.minimum(rng.poisson(np.select([k == 1, k == 2], [0.9, 0.7], 0.3)), 3)
    p_false = np.select([k == 1, k == 2], [0.6, 0.5], 0.15)
    n_false = rng.binomial(n_claims, p_false)
    cue = np.where(lat["fake"], rng.random(n) < 0.55, rng.random(n) < np.where(k == 2, 0.06, 0.006))
    honest_cheap = white & (k == 0) & (rng.random(n) < 0.6)
    lo = np.maximum(shop["opened"][s], _days(LISTED_FROM))
    listed = lo + (rng.random(n) * np.maximum(_days(LISTED_TO) - lo, 1)).astype(np.int64)
    lat.update(
        electrical=np.array([c.electrical for c in cats])[lat["cat"]],
        ccc_cat=ccc_cat,
        ccc_missing=ccc_missing,
        no_mfr=no_mfr,
        n_claims=n_claims,
        n_false=n_false,
        cue=cue,
        honest_cheap=honest_cheap,
        disguise_p=np.select([k == 2, k == 1], [0.5, 0.2], 0.0),
        listed=listed,
    )


def _listing_texts(
    r: random.Random, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray], brand: np.ndarray
) -> tuple[list[str], list[str], list[str | None]]:
    """Titles, descriptions and 3C numbers (none where missing), in this world's phrasing and disguises."""
    s, white, tier, disguise_p = lat["s"], lat["white"], lat["tier"], lat["disguise_p"]
    titles: list[str] = []
    descs: list[str] = []
    certs: list[str | None] = []
    for i in range(len(s)):
        c = CATEGORIES_B[lat["cat"][i]]

        def dz(p: str, _i: int = i) -> str:
            return _disguise(p, r) if r.random() < disguise_p[_i] else p

        product = r.choice(c.products)
        head = f"{brand[i]}{product}" if brand[i] and brand[i] != "无" else product
        tier_name = TIER_NAMES[tier[i]] if not white[i] else ""
        claim_pool = list(c.claims) + list(CLAIMS_B)
        claims = [dz(x) for x in r.sample(claim_pool, k=int(lat["n_claims"][i]))]
        cue_txt = dz(r.choice(CUES_B)) if lat["cue"][i] else ""
        cheap_txt = r.choice(HONEST_CHEAP) if lat["honest_cheap"][i] else ""
        bits = [x for x in (tier_name, r.choice(c.specs), *claims[:2], cue_txt, cheap_txt) if x]
        r.shuffle(bits)
        titles.append(" ".join([head, *bits])[:100])
        sent = [f"{head}{tier_name}，{r.choice(c.specs)}。"]
        if claims:
            sent.append("、".join(claims) + "。")
        if cue_txt:
            sent.append(f"{cue_txt}，{r.choice(['图片实拍', '介意勿拍', '数量有限'])}。")
        if cheap_txt:
            sent.append(f"{cheap_txt}，没有品牌溢价。")
        if not lat["no_mfr"][i]:
            sent.append(f"制造商：{shop['region'][s[i]][:3]}{r.choice(NAME_HEADS)}{r.choice(NAME_HEADS)}实业有限公司。")
        descs.append("".join(sent))
        if lat["ccc_cat"][i] and not lat["ccc_missing"][i]:
            certs.append(f"{r.randint(2018, 2025)}01{r.randint(1, 16):02d}{r.randint(0, 10**8 - 1):08d}")
        else:
            certs.append(None)
    return titles, descs, certs


def _risk(
    rng: np.random.Generator, listings: pd.DataFrame, lat: dict[str, np.ndarray], shop: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-type failure probabilities from the stock's latent state; one realised lab outcome."""
    n = len(listings)
    s = lat["s"]
    care = shop["care"][s]
    cats = CATEGORIES_B
    batch = rng.normal(0.0, 0.6, n)  # a bad batch: no field shows it
    cheap_white = lat["white"] & (lat["price"] < 0.8 * lat["white_level"])
    p = {
        "counterfeit": np.where(lat["fake"], 0.92, np.where(lat["faked"] > 0, 0.01, 0.0)),
        "false_advertising": 1.0 - np.power(0.4, lat["n_false"]) * 0.98,
        "quality": _sigmoid(
            np.array([c.quality_base for c in cats])[lat["cat"]]
            - 0.7 * care
            + 1.4 * (lat["white"] & lat["electrical"])
            + 0.9 * (cheap_white & lat["electrical"])
            + 0.8 * lat["ccc_missing"]
            + 0.5 * lat["fake"]
            + batch
        ),
        "three_no": _sigmoid(-4.2 + 2.6 * lat["no_mfr"] + 0.9 * shop["no_code"][s] + 0.5 * lat["white"]),
    }
    realised = {t: rng.random(n) < p[t] for t in FAILURE_TYPES}
    fails = np.logical_or.reduce([realised[t] for t in FAILURE_TYPES])
    out: dict[str, Any] = {"listing_id": listings["listing_id"].to_numpy()}
    out["p_fail"] = 1.0 - np.prod([1.0 - p[t] for t in FAILURE_TYPES], axis=0)
    for t in FAILURE_TYPES:
        out[f"p_{t}"] = p[t]
    out["fails"] = fails
    out["failure_types"] = np.array(
        [";".join(t for t in FAILURE_TYPES if realised[t][i]) for i in range(n)], dtype=object
    )
    out["fake_stock"] = lat["fake"]
    out["network_kind"] = np.array(NETWORK_KINDS)[lat["kind"]]
    truth = pd.DataFrame(out)
    for c in truth.columns:
        if c.startswith("p_"):
            truth[c] = truth[c].astype(float).round(6)
    # what buyers feel: quality problems; a fake priced like the real thing mostly goes unnoticed
    felt = 1.0 - (1.0 - p["quality"]) * (1.0 - 0.25 * lat["fake"])
    return truth, felt


def _reviews(
    rng: np.random.Generator,
    listings: pd.DataFrame,
    lat: dict[str, np.ndarray],
    felt: np.ndarray,
    shop: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Real TRAIN-split corpus reviews, drawn by category corpus and by what the buyer felt."""
    from training.corpus import load_shopping_reviews

    corpus = load_shopping_reviews("train")
    corpus = corpus[~corpus["cat"].isin(["酒店", "书籍"])].reset_index(drop=True)
    is_fake = corpus["review"].str.contains(_FAKE_MENTION).to_numpy()
    label = corpus["label"].to_numpy()
    short = (corpus["review"].str.len() <= 60).to_numpy()
    n = len(listings)
    k = np.minimum(rng.poisson(np.minimum(0.6 * np.power(lat["sales"] + 1.0, 0.4), 30.0)), 30)
    li = np.repeat(np.arange(n), k)
    total = len(li)
    p_neg = np.clip(0.07 + 0.7 * felt + 0.3 * shop["complaint"][lat["s"]], 0.0, 0.95)[li]
    want_pos = rng.random(total) >= p_neg
    want_fake = ~want_pos & (rng.random(total) < 0.3 * lat["fake"][li])
    src = np.full(total, "", dtype=object)
    u = rng.random(total)
    for ci, c in enumerate(CATEGORIES_B):
        rows = lat["cat"][li] == ci
        acc = 0.0
        for corpus_cat, wgt in c.corpus:
            src[rows & (u >= acc) & (u < acc + wgt)] = corpus_cat
            acc += wgt
    idx = np.empty(total, dtype=np.int64)
    cat_col = corpus["cat"].to_numpy()
    for key in sorted({(str(a), bool(b), bool(f)) for a, b, f in zip(src, want_pos, want_fake, strict=True)}):
        sel = (src == key[0]) & (want_pos == key[1]) & (want_fake == key[2])
        lab_ok = label == int(key[1])
        pool = np.flatnonzero(lab_ok & (cat_col == key[0]) & (is_fake == key[2])) if key[0] else np.zeros(0, int)
        if len(pool) == 0:
            pool = np.flatnonzero(lab_ok & (is_fake if key[2] else (~is_fake & short)))
        idx[sel] = pool[rng.integers(0, len(pool), int(sel.sum()))]
    true_label = label[idx]
    rating = np.where(
        true_label == 1,
        rng.choice([5, 4, 3], total, p=[0.8, 0.17, 0.03]),
        rng.choice([1, 2, 3], total, p=[0.45, 0.35, 0.2]),
    )
    listed = lat["listed"][li]
    when = listed + (rng.random(total) * np.maximum(_days(MARKET_DATE) - listed, 1)).astype(np.int64)
    return pd.DataFrame(
        {
            "listing_id": listings["listing_id"].to_numpy()[li],
            "text": corpus["review"].to_numpy()[idx],
            "rating": rating.astype(int),
            "review_date": _to_dates(when),
        }
    )


def plan_heuristic(listings: pd.DataFrame, reviews: pd.DataFrame, when: date) -> np.ndarray:
    """This world's past plans: complaints so far (share of 1-2 star reviews before the round), popularity
    and live-commerce platforms."""
    before = reviews[pd.to_datetime(reviews["review_date"]) < pd.Timestamp(when)]
    low = (before["rating"] <= 2).groupby(before["listing_id"]).mean()
    share_low = low.reindex(listings["listing_id"]).fillna(0.0).to_numpy()
    return (
        1.0
        + 3.0 * share_low
        + 0.4 * np.log10(1.0 + listings["sales"].to_numpy(dtype=float))
        + 0.8 * listings["platform"].isin(list(LIVE)).to_numpy()
    )


def eligible(listings: pd.DataFrame, when: date) -> np.ndarray:
    """Listings a round on `when` may buy: listed at least 30 days before it."""
    return (pd.to_datetime(listings["listed_date"]) < pd.Timestamp(when) - pd.Timedelta(days=30)).to_numpy()


def inclusion_probabilities(listings: pd.DataFrame, reviews: pd.DataFrame, elig: np.ndarray, when: date) -> np.ndarray:
    """A round's exact Poisson-sampling probabilities: each category's quota (2% of the market split by
    category weight, at most 40% of its eligible listings), 60% by `plan_heuristic`, 40% uniform; capped at 0.9."""
    n = len(listings)
    weight = {c.name: c.weight for c in CATEGORIES_B}
    total_w = sum(weight.values())
    cat = listings["category"].to_numpy()
    h = plan_heuristic(listings, reviews, when)
    pi = np.zeros(n)
    for name, w in weight.items():
        e = elig & (cat == name)
        ne = int(e.sum())
        if not ne:
            continue
        quota = min(0.02 * n * w / total_w, 0.4 * ne)
        pi[e] = np.minimum(0.9, quota * (0.6 * h[e] / h[e].sum() + 0.4 / ne))
    return pi


def _lab_results(
    rng: np.random.Generator,
    listings: pd.DataFrame,
    reviews: pd.DataFrame,
    lat: dict[str, np.ndarray],
    truth: pd.DataFrame,
) -> pd.DataFrame:
    """Three stratified rounds: a quota per category, Poisson sampling within it; exact inclusion probabilities."""
    n = len(listings)
    sampled = np.zeros(n, dtype=bool)
    cat = lat["cat"]
    fee = np.array([c.lab_fee for c in CATEGORIES_B])
    rows = []
    for plan_id, when in ROUNDS:
        elig = ~sampled & eligible(listings, when)
        pi = inclusion_probabilities(listings, reviews, elig, when)
        pick = elig & (rng.random(n) < pi)
        sampled |= pick
        ix = np.flatnonzero(pick)
        rows.append(
            pd.DataFrame(
                {
                    "listing_id": listings["listing_id"].to_numpy()[ix],
                    "sampled_date": _to_dates(_days(when) + rng.integers(0, 45, len(ix))),
                    "plan_id": plan_id,
                    "verdict": np.where(truth["fails"].to_numpy()[ix], "fail", "pass"),
                    "failure_types": truth["failure_types"].to_numpy()[ix],
                    "cost": np.round(lat["price"][ix] + fee[cat[ix]], 2),
                    "inclusion_prob": np.round(pi[ix], 8),
                }
            )
        )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in LabResult.model_fields})
    return pd.concat(rows, ignore_index=True)


def simulate_b(n_merchants: int, n_listings: int, *, seed: int) -> Simulation:
    """Market B with `n_merchants` shops and `n_listings` listings, deterministic per seed."""
    if n_merchants < 1 or n_listings < 1:
        raise ValueError("need at least one merchant and one listing")
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, 20])
    r = random.Random(f"market-b:{seed}")
    merchants, shop = _merchants(rng, r, n_merchants)
    listings, lat = _listings(rng, r, shop, n_listings)
    truth_l, felt = _risk(rng, listings, lat, shop)
    reviews = _reviews(rng, listings, lat, felt, shop)
    labs = _lab_results(rng, listings, reviews, lat, truth_l)
    market = Market(merchants=merchants, listings=listings, reviews=reviews, lab_results=labs)
    truth_m = pd.DataFrame(
        {
            "merchant_id": merchants["merchant_id"],
            "identity_id": np.char.add("N", np.char.zfill((shop["net"] + 1).astype(str), 6)),
            "honesty": np.round(_sigmoid(shop["care"]), 4),
            "complaint_propensity": np.round(shop["complaint"], 4),
            "dishonest_class": shop["kind"] == 2,
            "reappeared": np.zeros(len(merchants), dtype=bool),
            "linked_flag": shop["linked"],
            "network_kind": np.array(NETWORK_KINDS)[shop["kind"]],
        }
    )
    sim = Simulation(market=market, truth_listings=truth_l, truth_merchants=truth_m)
    sim.manifest = _manifest(sim, seed=seed, seconds=time.perf_counter() - t0)
    return sim


def _manifest(sim: Simulation, *, seed: int, seconds: float) -> dict[str, Any]:
    t, m = sim.truth_listings, sim.market
    p, fails = t["p_fail"].to_numpy(), t["fails"].to_numpy()
    realised = failure_type_flags(t["failure_types"], FAILURE_TYPES)
    return {
        "world": "market_b",
        "version": WORLD_VERSION,
        "seed": seed,
        "sizes": {k: len(v) for k, v in m.tables().items()},
        "review_source": "online_shopping_10_cats, TRAIN split only (md5 rule in training/corpus.py)",
        "plans": [p for p, _ in ROUNDS],
        "rates": {
            "fail_p_mean": float(p.mean()),
            "fail_realised": float(fails.mean()),
            **{f"{k}_realised": float(realised[k].mean()) for k in FAILURE_TYPES},
            "fake_stock": float(t["fake_stock"].mean()),
            "labelled_share": float(len(m.lab_results) / len(m.listings)),
            "labelled_fail_rate": float((m.lab_results["verdict"] == "fail").mean()) if len(m.lab_results) else None,
            "reviews_per_listing": float(len(m.reviews) / len(m.listings)),
        },
        "oracle_auc": auc(p, fails),
        "seconds": round(seconds, 2),
    }


__all__ = [
    "CATEGORIES_B",
    "CLAIMS_B",
    "CUES_B",
    "WORLD_VERSION",
    "eligible",
    "inclusion_probabilities",
    "plan_heuristic",
    "simulate_b",
]
