"""Fixtures for the planner web pages: a small simulated market, a scorer, the app, a live server, a browser.

The browser test runs on the team's real LightGBM bundle: the session's tiny bundle (`tests/conftest.py`,
`configs/train-tiny.yaml`), fitted on another simulated market than the pages show, as a model trained on last
month's market scores this month's. The HTTP page tests (access control, cookies, CSRF, forms)
do not test the model and use `tests.support.scorers.RulesScorer`, the tests' one rule-based scorer,
whose numbers mean nothing about model quality, only the contract's shape (probabilities, reasons,
evidence). `CHOUJIAN_WEB_TEST_SCORER=fixture` puts the fixture behind the
browser test too, for a quick local look. The page footer names the model behind each screenshot.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serving.runtime import LoadedModel, describe
from serving.settings import Settings
from tests.support.scorers import RulesScorer

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


# --- market and model ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def web_market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-merchant, 400-listing simulated market (Parquet), the current market of every web test."""
    from training.simulator import simulate

    out = tmp_path_factory.mktemp("web-market")
    simulate(40, 400, seed=23).market.write(out)
    return out


def _loader(scorer: Any) -> Any:
    def load() -> LoadedModel:
        return LoadedModel(scorer=scorer, info=describe(scorer, source="tests:web", alias="champion"))

    return load


@pytest.fixture(scope="session")
def fixture_loader(web_market_dir: Path) -> Any:
    """Loads the tests' rule-based scorer: for the page tests (access control, forms), which do not test the model."""
    from features.market import load_market

    return _loader(RulesScorer(load_market(web_market_dir), name="fixture-rules"))


@pytest.fixture(scope="session")
def bundle_loader(fixture_loader: Any, request: pytest.FixtureRequest) -> Any:
    """Loads the team's real tiny bundle (the session's); `CHOUJIAN_WEB_TEST_SCORER=fixture` swaps in the
    fixture for a quick local look at the pages. No silent fallback: if training breaks, the e2e test fails."""
    if os.environ.get("CHOUJIAN_WEB_TEST_SCORER", "bundle") == "fixture":
        return fixture_loader
    return _loader(request.getfixturevalue("tiny_bundle"))


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
