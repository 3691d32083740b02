"""Fixtures for the serving tests: a real store (SQLite always, PostgreSQL when reachable), a small
simulated market, the app with keys for each role, and a scorer.

The scorer is the team's real bundle trained by `tiny_bundle` when the training code can produce one;
`tests.support.scorers.RulesScorer`, a small rule-based implementation of the `RiskScorer` protocol, is used by the
fast route tests (it needs no training, so route tests stay quick and independent of model quality).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.runtime import LoadedModel, describe
from serving.settings import Settings
from tests.support.scorers import RulesScorer


def rules_loader(version: str = "1", bias: float = 0.0) -> Any:
    def load() -> LoadedModel:
        scorer = RulesScorer(version=version, bias=bias)
        return LoadedModel(scorer=scorer, info=describe(scorer, source="tests:rules", alias="champion"))

    return load


# --- databases ----------------------------------------------------------------------------------------
class _TestServers(BaseSettings):
    """Servers the tests may use, from `CHOUJIAN_TEST_*` variables (never part of the product's settings)."""

    model_config = SettingsConfigDict(env_prefix="CHOUJIAN_TEST_")

    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str:
    return _TestServers().postgres_url


def _postgres_reachable(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as e:  # any failure to connect
        return f"{type(e).__name__}: {e}"


@contextmanager
def private_store(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on the test PostgreSQL server."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = _postgres_url()
    problem = _postgres_reachable(base)
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {base} is required under CI=true but unreachable: {problem}")
        pytest.skip(f"PostgreSQL at {base} unreachable: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"  # parallel runs never share tables
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def store_of() -> Any:
    """`store_of(kind, tmp_path)`: the `private_store` context manager, for module-scoped stores."""
    return private_store


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on the test PostgreSQL server."""
    with private_store(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sessions(db_url: str) -> Iterator[Any]:
    """A session factory on that database, migrated to the newest schema."""
    from serving import store
    from serving.db import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    store.upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


# --- a small simulated market -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-merchant, 300-listing simulated market written as Parquet."""
    from training.simulator import simulate

    out = tmp_path_factory.mktemp("market")
    simulate(40, 300, seed=11).market.write(out)
    return out


# --- the app ------------------------------------------------------------------------------------------
@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    settings: Settings
    app: Any = None

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def make_settings(db_url: str, market_dir: Path, **overrides: Any) -> Settings:
    given: dict[str, Any] = {"environment": "test", "secret_key": SecretStr("x" * 32), **overrides}
    return Settings(database_url=db_url, market_dir=market_dir, warm_market_on_start=False, **given)


def make_keys(app: Any) -> dict[str, str]:
    from serving import store

    keys = {}
    with app.state.sessions() as s:
        for role in ("platform", "planner", "admin"):
            keys[role] = store.create_key(s, role=role, name=f"test {role}")[1]
    return keys


@contextmanager
def running_app(db_url: str, market_dir: Path, *, loader: Any = None, **overrides: Any) -> Iterator[Api]:
    """Start the app (lifespan included) on `db_url` with `loader` (default: the rules scorer)."""
    from serving.app import create_app

    settings = make_settings(db_url, market_dir, **overrides)
    app = create_app(settings, loader=loader or rules_loader())
    with TestClient(app) as client:
        yield Api(client=client, keys=make_keys(app), settings=settings, app=app)


@pytest.fixture
def start_app(db_url: str, market_dir: Path) -> Any:
    """`start_app(loader=..., **settings)`: a context manager running the app on this test's store."""
    return partial(running_app, db_url, market_dir)


@pytest.fixture
def api(db_url: str, market_dir: Path) -> Iterator[Api]:
    """The app on a fresh store with the rules scorer, and one key per role."""
    with running_app(db_url, market_dir) as a:
        yield a


class Records:
    """Builders for request records (a fixture, so test modules need not import conftest)."""

    merchant = staticmethod(lambda mid="M1", **kw: merchant_json(mid, **kw))
    listing = staticmethod(lambda lid="L1", mid="M1", **kw: listing_json(lid, mid, **kw))
    rules_loader = staticmethod(rules_loader)


@pytest.fixture(scope="session")
def rec() -> type[Records]:
    return Records


# --- records for requests -----------------------------------------------------------------------------
def merchant_json(mid: str = "M1", **kw: Any) -> dict[str, Any]:
    return {
        "merchant_id": mid,
        "platform": "淘宝",
        "shop_name": "康美保健品旗舰店",
        "opened_date": "2023-05-12",
        "registry_status": "normal",
        **kw,
    }


def listing_json(lid: str = "L1", mid: str = "M1", **kw: Any) -> dict[str, Any]:
    return {
        "listing_id": lid,
        "merchant_id": mid,
        "platform": "淘宝",
        "category": "保健食品",
        "brand": "康美",
        "title": "灵芝孢子粉 增强免疫力 正品",
        "description": "精选原料，规格：60粒/瓶。",
        "price": 89.0,
        "sales": 15,
        "listed_date": "2026-10-01",
        **kw,
    }
