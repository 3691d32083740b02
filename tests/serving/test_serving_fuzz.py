"""Schemathesis fuzzes the whole API from its own OpenAPI schema: no 5xx, no response off its schema.

Requests carry an admin key (admins may call every operation) so the fuzzer reaches past authentication;
unauthenticated and wrong-role calls are covered by the route tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, market_dir: Path, rec: Any) -> Iterator[tuple[Any, str]]:
    from serving import store
    from serving.app import create_app
    from serving.settings import Settings

    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    s = Settings(
        environment="test",
        database_url=f"sqlite:///{db}",
        market_dir=market_dir,
        secret_key=SecretStr("x" * 32),
        warm_market_on_start=False,
    )
    app = create_app(s, loader=rec.rules_loader())
    with TestClient(app):  # runs the lifespan: store migrated, model loaded
        with app.state.sessions() as session:
            key = store.create_key(session, role="admin", name="fuzz")[1]
        yield app, key


@pytest.fixture(scope="module")
def plan_id(fuzz_app: tuple[Any, str]) -> str:
    """A real plan, so plan-scoped operations are fuzzed past the 404 (random ids never exist)."""
    app, key = fuzz_app
    c = TestClient(app)  # not as a context manager: the app's lifespan already runs in fuzz_app
    body = {"budget": 20000, "epsilon": 0.3, "seed": 1}
    r = c.post("/v1/plans", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    return str(r.json()["plan_id"])


@pytest.mark.slow
def test_api_fuzz(fuzz_app: tuple[Any, str], plan_id: str) -> None:
    """Every operation, a bounded number of generated requests each; all failures are reported together."""
    app, key = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    n_ops = 0
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]  # an Err raises here, naming the broken operation
        n_ops += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # report the first failure as found: shrinking takes minutes
        )
        def run(case: Any) -> None:
            if case.path_parameters and "plan_id" in case.path_parameters:
                case.path_parameters["plan_id"] = plan_id
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as e:  # collect every operation's failure, then fail once
            failures.append(f"{op.label}: {type(e).__name__}: {str(e)[:2000]}")
    assert n_ops >= 12
    assert not failures, "\n\n".join(failures)
