"""Market simulator: a Chinese e-commerce market with known ground truth, to train on and measure honestly.

The generative story (documented with its numbers in `data/README.md`):

1. **Sellers.** Each real seller (an *identity*) has a latent dishonesty `z` drawn from a two-class mixture
   (most sellers honest, a minority not). An identity owns one or more shops. Dishonest identities
   collect removals and bad registry statuses on their older shops, then reappear under a new shop
   name, often on another platform, sharing the old shop's credit code or phone number; the new shop
   looks clean on its own fields, so only identity linking exposes it.
2. **Listings.** Every listing belongs to a shop and a regulator-sampled category, with a brand (or none),
   a price around the brand's level, sales, a 3C number where one applies, and a Chinese title and
   description. Dishonesty drives fake stock (priced lower, overlapping the genuine range), counterfeit
   cues, absolute and efficacy claims, missing 3C numbers, missing manufacturer details, off-platform
   contacts and text evasion tricks; honest sellers produce some of the same cues by accident.
3. **Risk.** Each failure type has a logit = observable part (a function of the fields above, including
   cues a product can only read from text and flags it can only reach by linking identities) + hidden
   part (the identity's dishonesty, a buyer-experienced quality term that leaks into reviews, and a pure
   noise term that no field shows). `p_fail = 1 - prod(1 - p_type)`; `fails` is one realised lab outcome.
4. **Reviews** are real texts from the corpus TRAIN split, drawn by category and by the listing's
   experienced quality; counterfeits draw real reviews that mention 假货.
5. **Lab results** exist only for listings that four earlier plans bought, chosen by Poisson sampling
   with a recorded inclusion probability that leans on a crude risk heuristic (selection bias).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import paths
from core.reference import LAB_FEES, read_lab_fees
from features.market import Market, failure_type_flags
from features.records import _CREDIT_ALPHABET, _CREDIT_WEIGHTS, LabResult
from training import metrics as M
from training import sim_vocab as V

logger = logging.getLogger(__name__)

SIM_VERSION = "1.0.0"
FAILURE_TYPES = ("counterfeit", "false_advertising", "quality", "three_no")
# global intercepts per failure type, tuned once so that the market-wide rates land on the regulator's
# figures (fail 35%, three-no ~10%); the tests check the rates, not these numbers
_INTERCEPT = {"counterfeit": -3.52, "false_advertising": -2.39, "quality": -2.03, "three_no": -2.57}
# effect sizes of the hidden terms per failure type: identity dishonesty z, experienced quality, pure noise
_HIDDEN = {
    "counterfeit": (0.6, 0.4, 0.9),
    "false_advertising": (0.4, 0.0, 0.8),
    "quality": (0.4, 0.75, 0.8),
    "three_no": (0.4, 0.0, 0.8),
}
PLAN_ROUNDS = (
    ("SJ-2024-A", date(2024, 4, 15)),
    ("SJ-2024-B", date(2024, 10, 15)),
    ("SJ-2025-A", date(2025, 4, 15)),
    ("SJ-2025-B", date(2025, 10, 15)),
)
LISTED_FROM, LISTED_TO, MARKET_DATE = date(2023, 1, 1), date(2025, 10, 31), date(2025, 11, 20)
_FAKE_MENTION = re.compile(r"假货|假的|不是正品|仿品|山寨|假冒|水货")
# reviews that name a product type are not used for categories the corpus lacks
_SPECIFIC = re.compile(
    r"屏|电池|系统|头发|洗发|头皮|头屑|脱|水果|苹果|橙|桔|橘|梨|芒果|猕猴桃|香蕉|衣服|穿|尺码|码数|裤|奶|喝|"
    r"水壶|热水|加热|电脑|键盘|内存|手机|平板|显卡|硬盘|味道|好吃|甜|酸|口感|洗|香|鞋|充电|软件|开机|拍照|像素|"
    r"游戏|外卖|送餐|安装|师傅|配件|蒙牛|京东|卡|声音|吃|烂|新鲜|颜色|色差|油|机|网|稀|耳|眼|漏|套装|官网|书|酒店"
)

Progress = Callable[[str], None]


@dataclass
class Simulation:
    """A simulated market plus the ground truth no user would have."""

    market: Market
    truth_listings: pd.DataFrame
    truth_merchants: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _credit_codes(rng: np.random.Generator, regions: np.ndarray, individual: np.ndarray) -> np.ndarray:
    """Valid 统一社会信用代码 (GB 32100-2015) for the given 6-digit area codes, vectorised."""
    n = len(regions)
    alphabet = np.array(list(_CREDIT_ALPHABET))
    digits = np.empty((n, 17), dtype=np.int64)
    digits[:, 0] = 9  # registered by market regulation (工商)
    digits[:, 1] = np.where(individual, 2, 1)  # 2 = 个体工商户, 1 = 企业
    area = np.array([[int(c) for c in r] for r in regions], dtype=np.int64).reshape(n, 6)
    digits[:, 2:8] = area
    digits[:, 8:17] = rng.integers(0, len(alphabet), size=(n, 9))
    total = digits @ np.array(_CREDIT_WEIGHTS, dtype=np.int64)
    check = (31 - total % 31) % 31
    chars = alphabet[np.concatenate([digits, check[:, None]], axis=1)]
    return np.array(["".join(row) for row in chars])


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefixes = np.array(["13", "15", "17", "18", "19", "16"])
    p = prefixes[rng.integers(0, len(prefixes), n)]
    rest = rng.integers(0, 10**9, n)
    mobile = np.char.add(p, np.char.zfill(rest.astype(str), 9))
    landline = np.char.add("0571-8", np.char.zfill(rng.integers(0, 10**7, n).astype(str), 7))
    return np.where(rng.random(n) < 0.9, mobile, landline)


def _unique_draw(make: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """Draw n values and redraw collisions, so two identities never share a code or phone by chance."""
    out = make(np.arange(n))
    for _ in range(20):
        _, first = np.unique(out, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return out
        out[dup] = make(np.flatnonzero(dup))
    raise RuntimeError("could not draw unique identifiers")


def _days(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _to_dates(days: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[ns]"))


def _components(codes: list[str | None], phones: list[str | None]) -> np.ndarray:
    """Connected components of shops that share a credit code or a phone (union-find)."""
    parent = list(range(len(codes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for keys in (codes, phones):
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            if not k:
                continue
            if k in first:
                a, b = find(i), find(first[k])
                if a != b:
                    parent[a] = b
            else:
                first[k] = i
    return np.array([find(i) for i in range(len(codes))])


# ---------------------------------------------------------------------------------------------------
# text


_FULLWIDTH = {i: i + 0xFEE0 for i in range(0x21, 0x7F)}


def _evade(phrase: str, r: random.Random) -> str:
    """Disguise a tell-tale phrase the way dishonest sellers do to slip past keyword filters."""
    trick = r.randrange(5)
    if trick == 0:
        return " ".join(phrase)
    if trick == 1:
        return "\u200b".join(phrase)
    if trick == 2:
        return phrase.translate(V.TRADITIONAL)
    for word, roman in V.PINYIN.items():
        if word in phrase:
            phrase = phrase.replace(word, roman)
            break
    if trick == 3 and any(c.isascii() and c.isalnum() for c in phrase):
        return phrase.translate(_FULLWIDTH)
    return "\u200c".join(phrase) if trick == 4 else phrase


def _offsite(r: random.Random) -> str:
    wx = "".join(r.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(r.randint(3, 5))) + str(r.randint(100, 9999))
    qq = str(r.randint(10**7, 10**10))
    tel = f"1{r.choice('3589')}{r.randint(0, 9)}{r.randint(10**7, 10**8 - 1)}"
    return r.choice(V.OFFSITE_TEMPLATES).format(wx=wx, qq=qq, tel=tel)


def _ccc_number(r: random.Random, listed_year: int, valid: bool) -> str:
    if valid:
        return f"{r.randint(2016, listed_year)}01{r.randint(1, 16):02d}{r.randint(0, 10**8 - 1):08d}"
    return r.choice([str(r.randint(10**9, 10**12)), "3C认证", f"CCC{r.randint(1000, 99999)}", "已认证"])


@dataclass
class _Text:
    """What the text writer needs for one listing (pre-drawn in vectorised code)."""

    cat: V.Category
    brand: str
    n_abs: int
    efficacy: bool
    cue: bool
    innocent_cue: bool
    innocent_sup: bool
    offsite: bool
    evade_p: float
    mfr: bool
    region: str


def _write_texts(items: list[_Text], r: random.Random) -> tuple[list[str], list[str]]:
    """Compose Chinese listing titles and descriptions: brand + product terms + spec + selling points."""
    titles, descs = [], []
    for t in items:
        c = t.cat

        def ev(p: str, _t: _Text = t) -> str:
            return _evade(p, r) if r.random() < _t.evade_p else p

        brand = next((b for b in c.brands if b.name == t.brand), None)
        product = r.choice(brand.products if brand is not None and brand.products else c.products)
        head = f"{t.brand}{product}" if t.brand else product
        parts = [r.choice(c.specs), *r.sample(c.points, k=min(len(c.points), r.randint(1, 3)))]
        claims = [ev(x) for x in r.sample(V.ABSOLUTE_CLAIMS, k=t.n_abs)]
        eff = ev(r.choice(c.efficacy)) if t.efficacy and c.efficacy else ""
        cue = ev(r.choice(V.COUNTERFEIT_CUES)) if t.cue else ""
        in_title = [*claims[:1], eff, cue if r.random() < 0.7 else ""]
        if t.innocent_sup:
            in_title.append(r.choice(V.INNOCENT_SUPERLATIVES))
        if t.innocent_cue and r.random() < 0.5:
            in_title.append(r.choice(V.INNOCENT_CUES))
        body = [p for p in parts + in_title if p]
        r.shuffle(body)
        titles.append(" ".join([head, *body])[:120])

        sents = [f"{head}，{'，'.join(r.sample(c.points, k=min(2, len(c.points))))}。", f"规格：{r.choice(c.specs)}。"]
        if claims or eff:
            sents.append("，".join([*claims, *([eff] if eff else [])]) + "！")
        if cue:
            sents.append(f"{cue}，做工细节与专柜一致，放心购买。")
        if t.innocent_cue:
            sents.append(f"{r.choice(V.INNOCENT_CUES)}。")
        if t.mfr:
            company = (
                f"{t.region[-3:-1] if t.region.endswith('市') else t.region[:2]}"
                + "".join(r.sample(V.SHOP_HEADS, 2))
                + r.choice(V.COMPANY_TAILS)
            )
            sents.append(f"生产企业：{company}，产地：{t.region}，执行标准：{c.standard}。")
        sents.append(f"{'，'.join(r.sample(V.SERVICE, 2))}。")
        if t.offsite:
            sents.append(ev(_offsite(r)) + "。")
        descs.append("".join(sents))
    return titles, descs


# ---------------------------------------------------------------------------------------------------
# generator


def simulate(n_merchants: int, n_listings: int, *, seed: int, progress: Progress | None = None) -> Simulation:
    """Simulate a market of `n_merchants` shops and `n_listings` listings, deterministically per seed."""
    if n_merchants < 1 or n_listings < 1:
        raise ValueError("need at least one merchant and one listing")
    t0 = time.perf_counter()
    step = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    r = random.Random(seed)

    merchants, shop = _merchants(rng, r, n_merchants)
    step("merchants")
    listings, lat = _listings(rng, r, shop, n_listings)
    step("listings")
    truth_l, experience = _risk(rng, listings, lat, shop)
    step("risk")
    reviews = _reviews(rng, listings, lat, experience, shop)
    step("reviews")
    labs = _lab_results(rng, listings, lat, truth_l)
    step("lab results")

    market = Market(merchants=merchants, listings=listings.drop(columns=["_shop"]), reviews=reviews, lab_results=labs)
    truth_m = pd.DataFrame(
        {
            "merchant_id": merchants["merchant_id"],
            "identity_id": shop["identity_id"],
            "honesty": np.round(_sigmoid(-1.5 * shop["z"]), 4),
            "complaint_propensity": np.round(shop["complaint"], 4),
            "dishonest_class": shop["dishonest"],
            "reappeared": shop["reappeared"],
            "linked_flag": shop["linked_flag"],
        }
    )
    sim = Simulation(market=market, truth_listings=truth_l, truth_merchants=truth_m)
    sim.manifest = _manifest(sim, seed=seed, seconds=time.perf_counter() - t0)
    step("summary")
    return sim


def _merchants(rng: np.random.Generator, r: random.Random, m: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Identities, then their shops over time: reappearances get new names and clean own fields."""
    who = _identities(rng, m)
    keys = _shop_keys(rng, who, m)
    removals, opened = _shop_history(rng, keys, m)
    primary, flagship, flag_brand, names = _shop_names(rng, r, keys["dishonest"], keys["platform"])
    ident, status = keys["ident"], keys["status"]

    complaint = _sigmoid(-2.6 + 0.9 * keys["z"] + rng.normal(0, 0.5, m))
    own_flag = (status != "normal") | (removals > 0)
    comp = _components(list(keys["code"]), list(keys["phone"]))
    comp_flags = pd.Series(own_flag.astype(int)).groupby(comp).transform("sum").to_numpy()
    linked_flag = (comp_flags - own_flag.astype(int)) > 0

    ids = np.char.add("M", np.char.zfill(np.arange(1, m + 1).astype(str), 6))
    merchants = pd.DataFrame(
        {
            "merchant_id": ids,
            "platform": np.array([p[0] for p in V.PLATFORMS])[keys["platform"]],
            "shop_name": names,
            "credit_code": keys["code"],
            "phone": keys["phone"],
            "region": who["region_name"][ident],
            "opened_date": _to_dates(opened),
            "registry_status": status.astype(str),
            "removals_elsewhere": removals.astype(int),
        }
    )
    merchants["credit_code"] = merchants["credit_code"].where(merchants["credit_code"].notna(), None)
    shop = {
        "identity_id": np.char.add("P", np.char.zfill((ident + 1).astype(str), 6)),
        "z": keys["z"],
        "dishonest": keys["dishonest"],
        "reappeared": keys["reappear"],
        "platform": keys["platform"],
        "plat_shift": np.array([p[2] for p in V.PLATFORMS])[keys["platform"]],
        "primary": primary,
        "flagship": flagship,
        "flag_brand": flag_brand,
        "opened": opened,
        "own_flag": own_flag,
        "status_bad": status != "normal",
        "linked_flag": linked_flag,
        "no_code": keys["no_code"],
        "complaint": complaint,
        "region": who["region_name"][ident],
    }
    return merchants, shop


def _identities(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    """The real sellers behind at most `m` shops: dishonesty, how many shops each runs over time, region,
    licence (credit code), phone and the registry status of its own entity."""
    n_id = m  # an upper bound; trimmed below
    # an exact share of dishonest identities (not a Bernoulli count), so small markets keep the marginals
    dishonest = np.zeros(n_id, dtype=bool)
    dishonest[rng.permutation(n_id)[: round(0.2 * n_id)]] = True
    z = np.where(dishonest, rng.normal(1.35, 0.7, n_id), rng.normal(-0.45, 0.6, n_id))
    k = np.where(dishonest, 1 + rng.poisson(1.0, n_id), 1 + (rng.random(n_id) < 0.12))
    start = np.concatenate([[0], np.cumsum(k)[:-1]])
    keep = start < m
    dishonest, z, k, start = dishonest[keep], z[keep], k[keep], start[keep]
    k[-1] = m - start[-1]
    n_id = len(k)

    reg_codes = np.array([x[0] for x in V.REGIONS])
    reg_names = np.array([x[1] for x in V.REGIONS])
    reg_w = np.array([x[2] for x in V.REGIONS])
    region = rng.choice(len(V.REGIONS), n_id, p=reg_w / reg_w.sum())
    individual = rng.random(n_id) < 0.3
    code = _unique_draw(lambda ix: _credit_codes(rng, reg_codes[region[ix]], individual[ix]), n_id)
    phone = _unique_draw(lambda ix: _phones(rng, len(ix)), n_id)
    # registry status of the identity's own entity
    u = rng.random(n_id)
    p_serious, p_revoked, p_abn = (_sigmoid(-5.0 + 1.6 * z), _sigmoid(-4.6 + 1.4 * z), _sigmoid(-3.0 + 1.1 * z))
    status = np.select(
        [u < p_serious, u < p_serious + p_revoked, u < p_serious + p_revoked + p_abn],
        ["serious_violation", "revoked", "abnormal_operations"],
        "normal",
    )
    return {
        "dishonest": dishonest,
        "z": z,
        "k": k,
        "start": start,
        "region_code": reg_codes[region],
        "region_name": reg_names[region],
        "code": code,
        "phone": phone,
        "status": status,
    }


def _shop_keys(rng: np.random.Generator, who: dict[str, np.ndarray], m: int) -> dict[str, Any]:
    """Expand identities to their `m` shops, in order: platform, credit code, phone and registry status per
    shop. A dishonest identity's last shop reappears (often on another platform) under a new shell company or
    its old licence, linked to the older shops by a shared code or phone."""
    k, start, status = who["k"], who["start"], who["status"]
    ident = np.repeat(np.arange(len(k)), k)
    j = np.arange(m) - np.repeat(start, k)  # order of the shop within its identity
    kk = np.repeat(k, k)
    dis = who["dishonest"][ident]
    last = j == kk - 1
    reappear = dis & (kk > 1) & last

    plat_w = np.array([p[1] for p in V.PLATFORMS])
    platform = rng.choice(len(V.PLATFORMS), m, p=plat_w / plat_w.sum())
    # a reappearing shop moves to another platform 60% of the time, else reopens on the same one
    prev = np.roll(platform, 1)
    stay = reappear & (rng.random(m) < 0.4)
    platform = np.where(stay, prev, platform)

    shop_code = who["code"][ident].astype(object)
    shop_phone = who["phone"][ident].astype(object)
    shop_status = status[ident].astype(object)
    # a blacklisted entity cannot reopen under its own licence: it uses a new shell company (same phone);
    # otherwise half reuse the credit code and half a new code with the old phone
    new_shell = reappear & ((status[ident] != "normal") | (rng.random(m) < 0.5))
    n_shell = int(new_shell.sum())
    if n_shell:
        shells = _credit_codes(rng, who["region_code"][ident[new_shell]], rng.random(n_shell) < 0.5)
        shop_code[new_shell] = shells
        shop_status[new_shell] = "normal"
    # some individual sellers show no licence at all (never on the shops whose code links identities)
    no_code = (~new_shell) & (kk == 1) & (rng.random(m) < np.where(np.isin(platform, [3, 4, 5]), 0.16, 0.05))
    shop_code[no_code] = None
    no_phone = (kk == 1) & ~no_code & (rng.random(m) < 0.05)
    shop_phone[no_phone] = None
    return {
        "ident": ident,
        "j": j,
        "kk": kk,
        "z": who["z"][ident],
        "dishonest": dis,
        "reappear": reappear,
        "flagged_old": dis & (kk > 1) & ~last,
        "platform": platform,
        "code": shop_code,
        "phone": shop_phone,
        "status": shop_status,
        "no_code": no_code,
    }


def _shop_history(rng: np.random.Generator, keys: dict[str, Any], m: int) -> tuple[np.ndarray, np.ndarray]:
    """Removals from other platforms (mostly on a dishonest identity's older shops) and opening dates
    (reappearances open late)."""
    dis, kk, reappear = keys["dishonest"], keys["kk"], keys["reappear"]
    removals = np.where(
        keys["flagged_old"],
        (rng.random(m) < 0.85) * (1 + rng.poisson(0.6, m)),
        np.where(dis & (kk == 1), (rng.random(m) < 0.3) * (1 + rng.poisson(0.5, m)), (rng.random(m) < 0.02)),
    )
    removals = np.where(reappear, 0, removals)

    d0, d1 = _days(date(2014, 1, 1)), _days(date(2025, 6, 30))
    opened = rng.integers(d0, _days(date(2023, 6, 30)), m)
    opened = np.where(reappear, rng.integers(_days(date(2023, 1, 1)), d1, m), opened)
    opened = np.where(~dis & (keys["j"] > 0), rng.integers(d0, d1, m), opened)
    return removals, opened


def _shop_names(
    rng: np.random.Generator, r: random.Random, dis: np.ndarray, platform: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Each shop's primary category and its name: some honest shops on the big platforms are a brand's
    flagship store, and half of the dishonest ones pick a shady name tail."""
    m = len(dis)
    cats = V.CATEGORIES
    cw = np.array([c.weight for c in cats], dtype=float)
    primary = rng.choice(len(cats), m, p=cw / cw.sum())
    flagship = ~dis & np.isin(platform, [1, 2]) & (rng.random(m) < 0.2)
    flag_brand = np.full(m, -1)
    names = []
    for i in range(m):
        c = cats[primary[i]]
        if flagship[i]:
            b = r.randrange(len(c.brands))
            flag_brand[i] = b
            names.append(f"{c.brands[b].name}{r.choice(['官方旗舰店', '旗舰店', '自营旗舰店', '授权专卖店'])}")
            continue
        tails = V.SHOP_TAILS_SHADY if (dis[i] and r.random() < 0.5) else V.SHOP_TAILS_HONEST
        names.append("".join(r.sample(V.SHOP_HEADS, 2)) + V.SHOP_TRADES[c.name] + r.choice(tails))
    return primary, flagship, flag_brand, names


def _listings(
    rng: np.random.Generator, r: random.Random, shop: dict[str, np.ndarray], n: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Listings with brands, prices, 3C numbers and texts; returns the latent draws alongside."""
    s = _listing_shops(rng, shop, n)
    lat: dict[str, np.ndarray] = {"s": s, "z": shop["z"][s], "plat": shop["plat_shift"][s]}
    brand_name = _brands(rng, shop, lat)
    _prices(rng, lat)
    _cues(rng, shop, lat)
    opened = shop["opened"][s]
    lo = np.maximum(opened, _days(LISTED_FROM))
    lat["listed"] = lo + (rng.random(n) * (_days(LISTED_TO) - lo)).astype(np.int64)
    titles, descs, cert = _listing_texts(r, shop, lat, brand_name)

    listings = pd.DataFrame(
        {
            "listing_id": np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
            "merchant_id": np.char.add("M", np.char.zfill((s + 1).astype(str), 6)),
            "platform": np.array([p[0] for p in V.PLATFORMS])[shop["platform"][s]],
            "category": np.array([c.name for c in V.CATEGORIES])[lat["cat"]],
            "brand": brand_name.astype(str),
            "title": titles,
            "description": descs,
            "price": np.round(lat["price"], 2),
            "sales": lat["sales"],
            "ccc_cert": pd.Series(cert, dtype=object),
            "listed_date": _to_dates(lat["listed"]),
            "_shop": s,
        }
    )
    return listings, lat


def _listing_shops(rng: np.random.Generator, shop: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The shop of each of `n` listings: skewed shop sizes, but dishonest shops as a whole get a fixed share
    of the listings (1.3x their share of shops): one giant shop must not swing the market-wide rates of a
    small market."""
    m = len(shop["z"])
    weight = rng.lognormal(0.0, 0.7, m)
    dis = shop["dishonest"]
    n_dis = int(dis.sum())
    share_dis = 1.3 * n_dis / (1.3 * n_dis + (m - n_dis))
    if 0 < n_dis < m:
        weight = np.where(dis, weight / weight[dis].sum() * share_dis, weight / weight[~dis].sum() * (1 - share_dis))
    if n >= m:
        counts = 1 + rng.multinomial(n - m, weight / weight.sum())
    else:
        counts = rng.multinomial(n, weight / weight.sum())
    return np.repeat(np.arange(m), counts)


def _brands(rng: np.random.Generator, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> np.ndarray:
    """Category, flagship, white label or brand (famous or not) and the brand's price level of each listing,
    into `lat`; returns the brand as written (white labels: empty, 无品牌 or 其他)."""
    s, z = lat["s"], lat["z"]
    n = len(s)
    cats = V.CATEGORIES
    cw = np.array([c.weight for c in cats], dtype=float)
    cat = np.where(rng.random(n) < 0.8, shop["primary"][s], rng.choice(len(cats), n, p=cw / cw.sum()))
    flagship = shop["flagship"][s] & (cat == shop["primary"][s])

    white_share = np.array([c.white_share for c in cats])[cat]
    white = ~flagship & (rng.random(n) < _sigmoid(np.log(white_share / (1 - white_share)) + 0.5 * z))
    famous = np.zeros(n, dtype=bool)
    level = np.array([c.white_price for c in cats])[cat].astype(float)
    brand_name = np.full(n, "", dtype=object)
    for ci, c in enumerate(cats):
        rows = np.flatnonzero((cat == ci) & ~white)
        if not len(rows):
            continue
        bw = np.array([1.0 if b.famous else 0.5 for b in c.brands])
        pick = rng.choice(len(c.brands), len(rows), p=bw / bw.sum())
        fb = shop["flag_brand"][s[rows]]
        pick = np.where(flagship[rows] & (fb >= 0), fb, pick)
        famous[rows] = np.array([b.famous for b in c.brands])[pick]
        level[rows] = np.array([b.price for b in c.brands])[pick]
        brand_name[rows] = np.array([b.name for b in c.brands], dtype=object)[pick]
    # white-label listings: half leave the brand empty, half write 无品牌 / 其他
    wl = white & (rng.random(n) < 0.5)
    brand_name[wl] = np.where(rng.random(int(wl.sum())) < 0.6, "无品牌", "其他")
    lat.update(cat=cat, flagship=flagship, white=white, famous=famous, level=level)
    return brand_name


def _prices(rng: np.random.Generator, lat: dict[str, np.ndarray]) -> None:
    """Fake stock (famous brands, dishonest sellers, risky platforms), prices around the brand's level (fakes
    lower, overlapping the genuine range) and sales, into `lat`."""
    z, famous, flagship, white, level = lat["z"], lat["famous"], lat["flagship"], lat["white"], lat["level"]
    n = len(z)
    fake = famous & ~flagship & (rng.random(n) < _sigmoid(-2.9 + 1.5 * z + 0.8 * lat["plat"]))
    log_ratio = np.where(
        fake,
        rng.normal(-0.75, 0.4, n),
        np.where(white, rng.normal(0.0, 0.35, n), rng.normal(-0.05, 0.17, n)),
    )
    raw = level * np.exp(log_ratio)
    price = np.where(raw >= 100, np.maximum(np.ceil(raw / 10) * 10 - 1, 1), np.maximum(np.floor(raw), 1) + 0.9)
    # sales: skewed, cheaper and bigger-platform listings sell more; some dishonest sellers buy fake orders
    sales = np.floor(rng.lognormal(3.4 - 0.15 * np.log(level / 100) + 0.4 * flagship + 0.3 * (z > 1.0), 1.5, n)).astype(
        int
    )
    lat.update(fake=fake, price=price, log_ratio=np.log(price / level), sales=sales)


def _cues(rng: np.random.Generator, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> None:
    """What the listing's fields and text will show, into `lat`: missing or bad 3C numbers, claims, counterfeit
    cues (and innocent look-alikes), off-platform contacts, evasion, missing manufacturer details."""
    z, fake, white = lat["z"], lat["fake"], lat["white"]
    n = len(z)
    cats = V.CATEGORIES
    ccc_cat = np.array([c.ccc for c in cats])[lat["cat"]]
    p_missing = _sigmoid(-3.6 + 1.4 * z + 1.3 * white + 1.0 * fake)
    ccc_missing = ccc_cat & (rng.random(n) < p_missing)
    ccc_bad = ccc_cat & ~ccc_missing & (z > 0.8) & (rng.random(n) < 0.2)
    ccc_shown_extra = ~ccc_cat & (rng.random(n) < 0.02)

    n_abs = np.minimum(rng.poisson(np.exp(-1.7 + 0.85 * z)), 3)
    has_eff = np.array([bool(c.efficacy) for c in cats])[lat["cat"]]
    efficacy = has_eff & (rng.random(n) < _sigmoid(-2.7 + 1.1 * z))
    cue = np.where(fake, rng.random(n) < 0.5, rng.random(n) < 0.012)
    innocent_cue = rng.random(n) < np.where(fake, 0.25, 0.1)
    innocent_sup = rng.random(n) < 0.25
    offsite = rng.random(n) < _sigmoid(-4.3 + 1.4 * z + 0.8 * fake)
    evade_p = np.where(z > 0.3, _sigmoid(-1.6 + 0.8 * z), 0.0)
    no_mfr = rng.random(n) < _sigmoid(-3.0 + 0.9 * z + 2.0 * white + 0.8 * shop["no_code"][lat["s"]])
    lat.update(
        ccc_cat=ccc_cat,
        ccc_missing=ccc_missing,
        ccc_bad=ccc_bad,
        ccc_shown_extra=ccc_shown_extra,
        n_abs=n_abs,
        efficacy=efficacy,
        cue=cue,
        innocent_cue=innocent_cue,
        innocent_sup=innocent_sup,
        offsite=offsite,
        evade_p=evade_p,
        no_mfr=no_mfr,
    )


def _listing_texts(
    r: random.Random, shop: dict[str, np.ndarray], lat: dict[str, np.ndarray], brand_name: np.ndarray
) -> tuple[list[str], list[str], list[str | None]]:
    """Titles, descriptions and the 3C number shown (valid or not; none where it is missing)."""
    s = lat["s"]
    listed_year = lat["listed"].astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    items = [
        _Text(
            V.CATEGORIES[lat["cat"][i]],
            str(brand_name[i]) if brand_name[i] not in ("无品牌", "其他") else "",
            int(lat["n_abs"][i]),
            bool(lat["efficacy"][i]),
            bool(lat["cue"][i]),
            bool(lat["innocent_cue"][i]),
            bool(lat["innocent_sup"][i]),
            bool(lat["offsite"][i]),
            float(lat["evade_p"][i]),
            bool(~lat["no_mfr"][i]),
            str(shop["region"][s[i]]),
        )
        for i in range(len(s))
    ]
    titles, descs = _write_texts(items, r)
    ccc_cat, ccc_missing, ccc_bad = lat["ccc_cat"], lat["ccc_missing"], lat["ccc_bad"]
    cert: list[str | None] = []
    for i in range(len(s)):
        if (ccc_cat[i] and not ccc_missing[i]) or lat["ccc_shown_extra"][i]:
            cert.append(_ccc_number(r, int(listed_year[i]), valid=not ccc_bad[i]))
        else:
            cert.append(None)
    return titles, descs, cert


def _observable_logits(lat: dict[str, np.ndarray], shop: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The part of each failure type's logit that the listing's fields show (some only through its text, some
    only by linking identities), before the global intercept."""
    s = lat["s"]
    base = np.array([c.base for c in V.CATEGORIES])[lat["cat"]]  # (n, 4)
    cheap = np.clip(-lat["log_ratio"], 0.0, 1.5)
    new_shop = (lat["listed"] - shop["opened"][s]) < 365
    own, linked = shop["own_flag"][s], shop["linked_flag"][s]
    status_bad, no_code = shop["status_bad"][s], shop["no_code"][s]
    f = lat
    return {
        "counterfeit": np.where(
            f["famous"],
            base[:, 0]
            + 2.4 * cheap
            + 1.6 * f["cue"]
            + 0.5 * f["offsite"]
            + 0.5 * own
            + 0.8 * linked
            + 0.4 * new_shop
            + 0.4 * f["plat"]
            - 2.0 * f["flagship"]
            + 0.6 * f["ccc_missing"],
            -7.0,
        ),
        "false_advertising": base[:, 1]
        + 1.0 * np.minimum(f["n_abs"], 2)
        + 1.5 * f["efficacy"]
        + 0.4 * f["offsite"]
        + 0.3 * f["cue"]
        + 0.3 * own
        + 0.4 * linked
        + 0.3 * f["plat"],
        "quality": base[:, 2]
        + 1.5 * f["ccc_missing"]
        + 1.0 * f["ccc_bad"]
        + 1.0 * cheap
        + 0.6 * f["white"]
        + 0.5 * status_bad
        + 0.3 * own
        + 0.6 * linked
        + 0.3 * f["plat"]
        + 0.3 * new_shop
        + 0.3 * f["no_mfr"]
        - 0.5 * f["flagship"],
        "three_no": base[:, 3]
        + 2.0 * f["white"]
        + 1.8 * f["no_mfr"]
        + 0.8 * no_code
        + 0.6 * f["ccc_missing"]
        + 0.3 * f["plat"]
        + 0.4 * linked,
    }


def _risk(
    rng: np.random.Generator, listings: pd.DataFrame, lat: dict[str, np.ndarray], shop: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-type failure logits = observable part + hidden part; realise one lab outcome per listing."""
    n = len(listings)
    obs = _observable_logits(lat, shop)
    f = lat
    z = f["z"]
    experience = rng.normal(0.0, 1.0, n)  # felt by buyers, so it leaks into reviews
    pure = rng.normal(0.0, 1.0, n)  # shared by the types: a bad batch fails on several counts
    out: dict[str, Any] = {"listing_id": listings["listing_id"].to_numpy()}
    p_full, p_obs, p_seen = {}, {}, {}
    var_hidden, var_total = {}, {}
    for t in FAILURE_TYPES:
        gz, ge, gp = _HIDDEN[t]
        own_noise = rng.normal(0.0, 1.0, n)
        eta_obs = _INTERCEPT[t] + obs[t]
        hidden_seen = gz * z + ge * experience
        hidden_pure = gp * (0.6 * pure + 0.8 * own_noise)
        if t == "counterfeit":  # no brand, nothing to fake
            hidden_seen, hidden_pure = hidden_seen * f["famous"], hidden_pure * f["famous"]
        p_full[t] = _sigmoid(eta_obs + hidden_seen + hidden_pure)
        p_seen[t] = _sigmoid(eta_obs + hidden_seen)
        p_obs[t] = _sigmoid(eta_obs + gz * float(np.mean(z)))
        var_hidden[t] = float(np.var(hidden_seen + hidden_pure))
        var_total[t] = float(np.var(eta_obs + hidden_seen + hidden_pure))
    realised = {t: rng.random(n) < p_full[t] for t in FAILURE_TYPES}
    fails = np.logical_or.reduce([realised[t] for t in FAILURE_TYPES])

    def union(ps: dict[str, np.ndarray]) -> np.ndarray:
        return 1.0 - np.prod([1.0 - ps[t] for t in FAILURE_TYPES], axis=0)

    out["p_fail"] = union(p_full)
    for t in FAILURE_TYPES:
        out[f"p_{t}"] = p_full[t]
    out["fails"] = fails
    types = np.array([";".join(t for t in FAILURE_TYPES if realised[t][i]) for i in range(n)], dtype=object)
    out["failure_types"] = types
    out["p_fail_observable"] = union(p_obs)
    out["p_fail_no_noise"] = union(p_seen)
    out["fake_stock"] = f["fake"]
    truth = pd.DataFrame(out)
    for c in truth.columns:
        if c.startswith("p_"):
            truth[c] = truth[c].astype(float).round(6)
    truth.attrs["logit_variance_hidden_share"] = {
        t: var_hidden[t] / var_total[t] if var_total[t] > 0 else float("nan") for t in FAILURE_TYPES
    }
    # what buyers experience: quality and counterfeit problems they can feel, not the lab's pure noise
    bad = 1.0 - (1.0 - p_seen["quality"]) * (1.0 - 0.8 * p_seen["counterfeit"])
    return truth, bad


def _review_pools() -> tuple[pd.DataFrame, dict[tuple[str, int, bool], np.ndarray]]:
    """Index the TRAIN split by (corpus category or 'generic', label, mentions a fake)."""
    from training.corpus import load_shopping_reviews

    df = load_shopping_reviews("train")
    df = df[~df["cat"].isin(["酒店", "书籍"])].reset_index(drop=True)
    fake = df["review"].str.contains(_FAKE_MENTION).to_numpy()
    generic = (~df["review"].str.contains(_SPECIFIC) & (df["review"].str.len() <= 80)).to_numpy()
    label = df["label"].to_numpy()
    pools: dict[tuple[str, int, bool], np.ndarray] = {}
    for cat in df["cat"].unique():
        in_cat = (df["cat"] == cat).to_numpy()
        for lab in (0, 1):
            pools[(cat, lab, False)] = np.flatnonzero(in_cat & (label == lab) & ~fake)
            pools[(cat, lab, True)] = np.flatnonzero(in_cat & (label == lab) & fake)
    for lab in (0, 1):
        pools[("generic", lab, False)] = np.flatnonzero(generic & (label == lab) & ~fake)
        pools[("generic", lab, True)] = np.flatnonzero((label == lab) & fake)  # any category: 假货 is 假货
    return df, pools


def _reviews(
    rng: np.random.Generator,
    listings: pd.DataFrame,
    lat: dict[str, np.ndarray],
    bad: np.ndarray,
    shop: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Real corpus reviews drawn by category and experienced quality; counts skewed by sales."""
    corpus, pools = _review_pools()
    n = len(listings)
    lam = np.minimum(0.8 * np.power(lat["sales"].astype(float), 0.45), 60.0)
    k = np.minimum(rng.poisson(lam), 60)
    li = np.repeat(np.arange(n), k)
    total = len(li)
    complaint = shop["complaint"][lat["s"]]
    p_neg = np.clip(0.06 + 0.75 * bad + 0.5 * complaint, 0.0, 0.95)[li]
    label = (rng.random(total) >= p_neg).astype(int)
    p_fake_mention = np.where(lat["famous"], 0.6 * bad, 0.0)[li]
    wants_fake = (label == 0) & (rng.random(total) < p_fake_mention)
    cats = V.CATEGORIES
    cat = lat["cat"][li]
    # source pool per review: one of the category's corpus categories, else the generic pool
    source = np.full(total, "generic", dtype=object)
    u = rng.random(total)
    for ci, c in enumerate(cats):
        rows = cat == ci
        acc = 0.0
        chosen = np.zeros(total, dtype=bool)
        for corpus_cat, w in c.corpus:
            hit = rows & ~chosen & (u >= acc) & (u < acc + w)
            source[hit] = corpus_cat
            chosen |= hit
            acc += w
    idx = np.empty(total, dtype=np.int64)
    # sorted: set order depends on the process's hash seed, and the draw order must not
    for key in sorted({(str(a), int(b), bool(c)) for a, b, c in zip(source, label, wants_fake, strict=True)}):
        sel = (source == key[0]) & (label == key[1]) & (wants_fake == key[2])
        pool = pools.get(key)
        if pool is None or len(pool) == 0:
            pool = pools[("generic", key[1], key[2])]
        idx[sel] = pool[rng.integers(0, len(pool), int(sel.sum()))]
    text = corpus["review"].to_numpy()[idx]
    true_label = corpus["label"].to_numpy()[idx]
    # ratings follow the text's sentiment, with the noise real ratings have
    pos = rng.choice([5, 4, 3], total, p=[0.72, 0.23, 0.05])
    neg = rng.choice([1, 2, 3, 4], total, p=[0.5, 0.25, 0.2, 0.05])
    rating = np.where(true_label == 1, pos, neg)
    listed = lat["listed"][li]
    span = np.maximum(_days(MARKET_DATE) - listed, 1)
    when = listed + (rng.random(total) * span).astype(np.int64)
    return pd.DataFrame(
        {
            "listing_id": listings["listing_id"].to_numpy()[li],
            "text": text,
            "rating": rating.astype(int),
            "review_date": _to_dates(when),
        }
    )


def crude_heuristic(lat: dict[str, np.ndarray], listings: pd.DataFrame) -> np.ndarray:
    """The kind of risk score past plans used: a few visible red flags, hand-weighted."""
    title = listings["title"]
    claims = title.str.contains("最|第一|国家级|顶级|极品").to_numpy()
    cheap = lat["log_ratio"] < np.log(0.6)
    risky_platform = lat["plat"] > 0.1
    return (
        1.0
        + 2.0 * cheap
        + 1.5 * (listings["brand"].isin(["", "无品牌", "其他"])).to_numpy()
        + 3.0 * (lat["ccc_cat"] & listings["ccc_cert"].isna().to_numpy())
        + 1.5 * claims
        + 1.0 * risky_platform
    )


def _lab_results(
    rng: np.random.Generator, listings: pd.DataFrame, lat: dict[str, np.ndarray], truth: pd.DataFrame
) -> pd.DataFrame:
    """Four past plans buy listings by Poisson sampling with known inclusion probabilities."""
    n = len(listings)
    h = crude_heuristic(lat, listings)
    sampled = np.zeros(n, dtype=bool)
    per_round = 0.0175 * n
    random_share = 0.3
    # what a purchase cost: price plus the category's fee from the reference table the planner uses too
    table = read_lab_fees(paths.REFERENCE_DIR / LAB_FEES)
    fees = np.array([table[c.name].lab_fee_yuan for c in V.CATEGORIES])
    rows = []
    for plan_id, when in PLAN_ROUNDS:
        elig = (~sampled) & (lat["listed"] < _days(when) - 14)
        ne = int(elig.sum())
        if ne == 0:
            continue
        target = min(per_round, 0.5 * ne)
        he = np.where(elig, h**2, 0.0)  # squared: past plans leaned hard on their red flags
        pi = np.minimum(0.9, target * ((1 - random_share) * he / he.sum() + random_share / ne))
        pick = elig & (rng.random(n) < pi)
        sampled |= pick
        ix = np.flatnonzero(pick)
        rows.append(
            pd.DataFrame(
                {
                    "listing_id": listings["listing_id"].to_numpy()[ix],
                    "sampled_date": _to_dates(_days(when) + rng.integers(0, 30, len(ix))),
                    "plan_id": plan_id,
                    "verdict": np.where(truth["fails"].to_numpy()[ix], "fail", "pass"),
                    "failure_types": truth["failure_types"].to_numpy()[ix],
                    "cost": np.round(lat["price"][ix] + fees[lat["cat"][ix]], 2),
                    "inclusion_prob": np.round(pi[ix], 8),
                }
            )
        )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in LabResult.model_fields})
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------------------------
# summary


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties averaged)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _manifest(sim: Simulation, *, seed: int, seconds: float) -> dict[str, Any]:
    t, m = sim.truth_listings, sim.market
    lst = m.listings
    p = t["p_fail"].to_numpy()
    fails = t["fails"].to_numpy()
    realised = failure_type_flags(t["failure_types"], FAILURE_TYPES)
    rates = {
        "fail_p_mean": float(p.mean()),
        "fail_realised": float(fails.mean()),
        **{f"{k}_p_mean": float(t[f"p_{k}"].mean()) for k in FAILURE_TYPES},
        **{f"{k}_realised": float(realised[k].mean()) for k in FAILURE_TYPES},
        "labelled_share": float(len(m.lab_results) / len(lst)),
        "labelled_fail_rate": float((m.lab_results["verdict"] == "fail").mean()) if len(m.lab_results) else None,
        "reviews_per_listing": float(len(m.reviews) / len(lst)),
        "merchants_reappeared": int(sim.truth_merchants["reappeared"].sum()),
        "identities": int(sim.truth_merchants["identity_id"].nunique()),
    }
    by_cat = (
        pd.DataFrame({"category": lst["category"], "p": p})
        .groupby("category")
        .agg(share=("p", "size"), p_fail=("p", "mean"))
    )
    by_cat["share"] = by_cat["share"] / len(lst)
    unobs: dict[str, Any] = {
        "auc_full": auc(p, fails),
        "auc_no_pure_noise": auc(t["p_fail_no_noise"].to_numpy(), fails),
        "auc_observable": auc(t["p_fail_observable"].to_numpy(), fails),
        "logit_variance_hidden_share": t.attrs.get("logit_variance_hidden_share", {}),
    }
    for b in (0.01, 0.05, 0.10):
        unobs[f"captured_lift_observable_at_{int(b * 100)}pct"] = M.expected_captured_lift(
            t["p_fail_observable"].to_numpy(), p, b
        )
        unobs[f"captured_lift_no_pure_noise_at_{int(b * 100)}pct"] = M.expected_captured_lift(
            t["p_fail_no_noise"].to_numpy(), p, b
        )
    return {
        "version": SIM_VERSION,
        "seed": seed,
        "sizes": {k: len(v) for k, v in m.tables().items()},
        "review_source": "online_shopping_10_cats, TRAIN split only (md5 rule in training/corpus.py)",
        "plans": [p for p, _ in PLAN_ROUNDS],
        "rates": rates,
        "by_category": {c: {k: float(v) for k, v in row.items()} for c, row in by_cat.iterrows()},
        "unobservable": unobs,
        "seconds": round(seconds, 2),
    }


def _json_safe(x: Any) -> Any:
    """NaN (tiny markets) as null, numpy scalars as Python numbers: manifest.json stays strict JSON."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x != x:
        return None
    return x


def write_simulation(sim: Simulation, out: str | Path, *, fmt: str = "parquet") -> list[Path]:
    """Write the four tables (loadable with `load_market`), the ground truth and manifest.json."""
    out = Path(out)
    sim.market.write(out, fmt=fmt)
    written = [out / f"{name}.{fmt}" for name in sim.market.tables()]
    tl = sim.truth_listings.copy()
    tl.attrs = {}
    tl.to_parquet(out / "ground_truth_listings.parquet", index=False)
    sim.truth_merchants.to_parquet(out / "ground_truth_merchants.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps(_json_safe(sim.manifest), ensure_ascii=False, indent=2))
    written += [out / "ground_truth_listings.parquet", out / "ground_truth_merchants.parquet", out / "manifest.json"]
    logger.info("wrote simulated market to %s", out)
    return written
