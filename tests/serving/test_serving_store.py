"""The store on real databases: migrations match the models, keys, idempotent results under races."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import inspect

from serving import store
from serving.db import PlanRow, PlanTargetRow, make_engine


def test_migrations_match_models_and_downgrade(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from serving.db import Base

    engine = make_engine(db_url)
    assert store.current_revision(engine) is None
    store.upgrade(engine)
    assert store.current_revision(engine) == store.head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff
    store.upgrade(engine)  # idempotent
    from alembic import command

    cfg = store.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_keys_are_hashed_and_checked(sessions: Any) -> None:
    with sessions() as s:
        row, key = store.create_key(s, role="planner", name="抽检科")
        assert row.key_hash == store.hash_key(key) and key not in row.key_hash
        assert len(key) > 40 and key.startswith(f"cj_{row.key_id}_")
        assert store.find_active_key(s, key).key_id == row.key_id  # type: ignore[union-attr]
        assert store.find_active_key(s, key + "x") is None
        assert store.find_active_key(s, "not-a-key") is None
        store.revoke_key(s, row.key_id)
        assert store.find_active_key(s, key) is None
        assert [k.key_id for k in store.list_keys(s, include_revoked=True)] == [row.key_id]
        assert store.list_keys(s) == []
        boot = "cj_boot01_" + "s" * 40
        assert store.ensure_key(s, key=boot, role="admin", name="bootstrap") is True
        assert store.ensure_key(s, key=boot, role="admin", name="bootstrap") is False
        with pytest.raises(ValueError, match="different secret"):
            store.ensure_key(s, key="cj_boot01_" + "t" * 40, role="admin", name="bootstrap")


def _plan(sessions: Any) -> str:
    with sessions() as s:
        plan = PlanRow(
            plan_id=store.new_plan_id(),
            budget=100.0,
            epsilon=0.2,
            seed=1,
            quotas={},
            model_name="m",
            model_version="1",
            market_fingerprint="f",
            n_candidates=2,
            n_targets=1,
            spent=50.0,
            summary={},
        )
        t = PlanTargetRow(
            listing_id="L1",
            merchant_id="M1",
            category="牛奶",
            rank=1,
            arm="targeted",
            cost=50.0,
            p_fail=0.4,
            inclusion_prob=1.0,
            expected_yield=0.4,
            reasons=["宣传用语可疑"],
        )
        store.save_plan(s, plan, [t])
        return plan.plan_id


def _new(verdict: str = "fail") -> store.NewResult:
    return store.NewResult(
        listing_id="L1",
        verdict=verdict,
        failure_types="counterfeit" if verdict == "fail" else "",
        sampled_date=date(2026, 11, 20),
        cost=50.0,
        inclusion_prob=1.0,
    )


def test_results_idempotent_and_conflicting(sessions: Any) -> None:
    pid = _plan(sessions)
    with sessions() as s:
        _, created = store.record_result(s, pid, _new(), recorded_by="k")
        s.commit()
        assert created
        _, created = store.record_result(s, pid, _new(), recorded_by="k")
        assert not created
        with pytest.raises(store.ResultConflict, match="verdict stored 'fail', sent 'pass'"):
            store.record_result(s, pid, _new("pass"), recorded_by="k")
        assert len(store.list_results(s, pid)) == 1
        got = store.get_plan(s, pid)
        assert got is not None and [t.listing_id for t in got.targets] == ["L1"]


def test_racing_identical_results_store_one_row(sessions: Any) -> None:
    """Threads that all see no row and insert at once: the unique constraint decides, nobody fails."""
    pid = _plan(sessions)
    barrier = threading.Barrier(4)
    outcomes: list[Any] = []

    def worker() -> None:
        with sessions() as s:
            barrier.wait()
            try:
                _, created = store.record_result(s, pid, _new(), recorded_by="k")
                s.commit()
                outcomes.append(created)
            except Exception as e:  # record what went wrong for the assertion message
                outcomes.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(o, bool) for o in outcomes), outcomes
    assert outcomes.count(True) == 1
    with sessions() as s:
        assert len(store.list_results(s, pid)) == 1
