"""Fixtures for the planner web pages: a small simulated market, a scorer, the app, a live server, a browser.

The browser test runs on the team's real LightGBM bundle, trained in-process on the small market with
`configs/train-tiny.yaml` (a few seconds). The HTTP page tests (access control, cookies, CSRF, forms)
do not test the model and use `FixtureScorer` below: a small, documented rule-based implementation of
`models.contract.RiskScorer` whose numbers mean nothing about model quality, only the contract's shape
(probabilities, reasons, evidence). `CHOUJIAN_WEB_TEST_SCORER=fixture` puts the fixture behind the
browser test too, for a quick local look. The page footer names the model behind each screenshot.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.market import Market
from models.contract import LISTING_RISKS, MERCHANT_RISK, Evidence, ListingScore, Reason, RiskScore
from serving.runtime import LoadedModel, describe
from serving.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHOUJIAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- the fixture scorer --------------------------------------------------------------------------------
_ABSOLUTE = ("国家级", "最好", "最佳", "第一", "顶级", "极品", "100%")
_EFFICACY = ("根治", "治愈", "包治", "特效", "无副作用")
_FAKE_CUES = ("高仿", "原单", "A货", "复刻", "尾单")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class FixtureScorer:
    """Rule-based stand-in for the registered bundle (tests only): lexicon hits, price against the
    category median and the shop's registry record, combined on the log-odds scale.

    Scores depend only on a listing's own record, its merchant's and the category's median price, which is
    a property of the market the fixture is built with (fixed at construction), so a listing scores the
    same alone or in a batch, as the contract requires.
    """

    name = "fixture-rules"
    version = "1"

    def __init__(self, market: Market):
        self._median = market.listings.groupby("category")["price"].median().to_dict()
        self.metadata = {"trained_at": "fixture", "metrics": {}}

    def _one(
        self, row: dict[str, Any], merchant: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, list[Reason]], list[Evidence]]:
        evidence: list[Evidence] = []
        for field in ("title", "description"):
            text = str(row.get(field) or "")
            for kind, words in (
                ("absolute_claim", _ABSOLUTE),
                ("efficacy_claim", _EFFICACY),
                ("counterfeit_cue", _FAKE_CUES),
            ):
                for w in words:
                    for m in re.finditer(re.escape(w), text):
                        evidence.append(
                            Evidence(kind=kind, phrase=w, field=field, start=m.start(), end=m.end(), text=m.group(0))  # type: ignore[arg-type]
                        )
        claims = sum(e.kind != "counterfeit_cue" for e in evidence)
        cues = sum(e.kind == "counterfeit_cue" for e in evidence)
        median = float(self._median.get(row["category"], row["price"]))
        cheap = max(0.0, math.log(median / float(row["price"]))) if median > 0 else 0.0
        no_ccc = 1.0 if not row.get("ccc_cert") else 0.0
        registry = 0.0 if str(merchant["registry_status"]) == "normal" else 1.0
        removals = float(merchant.get("removals_elsewhere") or 0)
        contrib = {
            "claims": 0.7 * claims,
            "cues": 1.2 * cues,
            "cheap": 0.9 * cheap,
            "no_ccc": 0.3 * no_ccc,
            "registry": 1.0 * registry,
            "removals": 0.4 * removals,
        }
        words = {
            "claims": ("ABSOLUTE_CLAIM", "含绝对化或功效宣传用语", "absolute or efficacy claims"),
            "cues": ("COUNTERFEIT_CUE", "含假冒暗示用语", "counterfeit cue words"),
            "cheap": ("PRICE_BELOW_CATEGORY", "价格明显低于同类目中位价", "price far below the category median"),
            "no_ccc": ("NO_CCC", "未展示3C认证编号", "no 3C certificate shown"),
            "registry": ("REGISTRY_STATUS", "商家登记状态异常", "merchant registry status not normal"),
            "removals": ("REMOVED_ELSEWHERE", "曾在其他平台被清退", "removed from other platforms"),
        }

        def reasons(keys: tuple[str, ...]) -> list[Reason]:
            ranked = sorted((k for k in keys if contrib[k] > 0), key=lambda k: -contrib[k])
            return [Reason(code=words[k][0], zh=words[k][1], en=words[k][2], contribution=contrib[k]) for k in ranked]

        lab_keys = ("claims", "cues", "cheap", "no_ccc", "registry", "removals")
        p = {
            "lab_fail": _sigmoid(-1.2 + sum(contrib[k] for k in lab_keys)),
            "counterfeit": _sigmoid(-2.5 + contrib["cues"] + contrib["cheap"]),
            "false_advertising": _sigmoid(-2.2 + 1.5 * contrib["claims"]),
            MERCHANT_RISK: _sigmoid(-1.5 + contrib["registry"] + contrib["removals"]),
        }
        r = {
            "lab_fail": reasons(lab_keys),
            "counterfeit": reasons(("cues", "cheap")),
            "false_advertising": reasons(("claims",)),
            MERCHANT_RISK: reasons(("registry", "removals")),
        }
        return p, r, evidence

    def _rows(self, market: Market) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        merchants = {m["merchant_id"]: m for m in market.merchants.to_dict("records")}
        for row in market.listings.to_dict("records"):
            yield row, merchants[row["merchant_id"]]

    def score_frame(self, market: Market) -> pd.DataFrame:
        """Probabilities only."""
        rows = [
            {"listing_id": row["listing_id"], **{f"p_{k}": v for k, v in self._one(row, m)[0].items()}}
            for row, m in self._rows(market)
        ]
        return pd.DataFrame(rows, columns=["listing_id", *[f"p_{r}" for r in (*LISTING_RISKS, MERCHANT_RISK)]])

    def score_listings(self, market: Market, *, top_reasons: int = 3) -> list[ListingScore]:
        """Probabilities with reasons and evidence."""
        out = []
        for row, m in self._rows(market):
            p, r, ev = self._one(row, m)
            risks = {k: RiskScore(probability=p[k], reasons=r[k][:top_reasons]) for k in p}
            out.append(
                ListingScore(listing_id=row["listing_id"], merchant_id=row["merchant_id"], risks=risks, evidence=ev)
            )  # type: ignore[arg-type]
        return out


# --- market and model ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def web_market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-merchant, 400-listing simulated market (Parquet), the current market of every web test."""
    from training.simulator import simulate

    out = tmp_path_factory.mktemp("web-market")
    simulate(40, 400, seed=23).market.write(out)
    return out


def _real_bundle(market: Market) -> Any:
    from training.train import fit_bundle, load_config

    return fit_bundle(market, load_config(ROOT / "configs" / "train-tiny.yaml")).bundle


def _loader(scorer: Any) -> Any:
    def load() -> LoadedModel:
        return LoadedModel(scorer=scorer, info=describe(scorer, source="tests:web", alias="champion"))

    return load


@pytest.fixture(scope="session")
def fixture_loader(web_market_dir: Path) -> Any:
    """Loads `FixtureScorer`: for the page tests (access control, forms), which do not test the model."""
    from features.market import load_market

    return _loader(FixtureScorer(load_market(web_market_dir)))


@pytest.fixture(scope="session")
def bundle_loader(web_market_dir: Path, fixture_loader: Any) -> Any:
    """Loads the team's real tiny bundle, trained here; `CHOUJIAN_WEB_TEST_SCORER=fixture` swaps in the
    fixture for a quick local look at the pages. No silent fallback: if training breaks, the e2e test fails."""
    from features.market import load_market

    if os.environ.get("CHOUJIAN_WEB_TEST_SCORER", "bundle") == "fixture":
        return fixture_loader
    return _loader(_real_bundle(load_market(web_market_dir)))


def web_settings(db_path: Path, market_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        environment="test",
        database_url=f"sqlite:///{db_path}",
        market_dir=market_dir,
        secret_key="web-tests-" + "s" * 32,  # type: ignore[arg-type]
        warm_market_on_start=False,
        **overrides,
    )


def make_key(app: Any, role: str) -> str:
    """A new API key for `role`, created through the store as `choujian keys create` does."""
    from serving import store

    with app.state.sessions() as s:
        return store.create_key(s, role=role, name=f"web test {role}")[1]


# --- the live server ----------------------------------------------------------------------------------
@dataclass
class LiveServer:
    url: str
    app: Any
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path, web_market_dir: Path, bundle_loader: Any) -> Iterator[LiveServer]:
    """The app under uvicorn on 127.0.0.1 (a free port) in a thread, on a fresh SQLite store."""
    import uvicorn

    from serving.app import create_app

    app = create_app(web_settings(tmp_path / "store.db", web_market_dir), loader=bundle_loader)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="web-e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        keys = {role: make_key(app, role) for role in ("planner", "platform")}
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, keys=keys)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# --- the browser --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium; missing → skip on a laptop, fail under CI=true (CI must run the browser tests)."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} not found: install it with `apt-get install -y chromium chromium-driver fonts-noto-cjk`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (required under CI=true)")
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclass
class WebTools:
    """Helpers for test modules (conftest is not importable as a module in this layout)."""

    market_dir: Path
    loader: Any

    def app(self, db_path: Path, **settings: Any) -> Any:
        from serving.app import create_app

        return create_app(web_settings(db_path, self.market_dir, **settings), loader=self.loader)

    make_key = staticmethod(make_key)


@pytest.fixture
def web_tools(web_market_dir: Path, fixture_loader: Any) -> WebTools:
    return WebTools(market_dir=web_market_dir, loader=fixture_loader)
