"""`scripts/replay.py` against a real `choujian serve` (subprocess, sockets, the real bundle) on SQLite and
PostgreSQL: every hostile or edge-case request of the hardening work holds, and none is answered 5xx."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import serve

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _replay_module() -> Any:
    spec = importlib.util.spec_from_file_location("replay", ROOT / "scripts" / "replay.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_replayed_case_holds_on_a_live_server(
    db_url: str, tiny_trained: tuple[Path, Any], tmp_path: Path
) -> None:
    from serving import store
    from serving.db import make_engine, make_sessionmaker

    market_dir, bundle = tiny_trained
    engine = make_engine(db_url)
    store.upgrade(engine)
    with make_sessionmaker(engine)() as s:
        admin = store.create_key(s, role="admin", name="replay")[1]
    engine.dispose()
    env = {
        "CHOUJIAN_DATABASE_URL": db_url,
        "CHOUJIAN_MARKET_DIR": str(market_dir),
        "CHOUJIAN_MARKET_SOURCE": "files",
        "CHOUJIAN_MODEL_URI": str(bundle.save(tmp_path / "bundle")),
        "CHOUJIAN_ENVIRONMENT": "development",
        # no secret given: the installation generates its own (the forged-cookie case signs with the old default)
        "CHOUJIAN_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
    }
    lines: list[str] = []
    with serve(env) as (base, _):
        results = _replay_module().run(base, admin, out=lines.append)
    failed = [f"{name}: {said}" for name, held, said in results if not held]
    assert not failed, "\n".join(lines)
    assert lines[-1].endswith(" 0 answered 5xx"), lines[-1]
    assert len(results) >= 16
