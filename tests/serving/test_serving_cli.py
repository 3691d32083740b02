"""`choujian keys create|list|revoke` and `choujian db upgrade` against a real store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from serving import store
from serving.db import make_engine, make_sessionmaker


def test_keys_create_prints_only_the_key(db_url: str) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["db", "upgrade", "--database-url", db_url])
    assert r.exit_code == 0, r.output
    assert "revision 0001" in r.stdout or store.head_revision() in r.stdout
    r = runner.invoke(app, ["keys", "create", "--role", "planner", "--name", "抽检科", "--database-url", db_url])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    assert r.stdout == key + "\n" and store.split_key(key) is not None
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        row = store.find_active_key(s, key)
        assert row is not None and row.role == "planner" and row.name == "抽检科"
    r = runner.invoke(app, ["keys", "revoke", row.key_id, "--database-url", db_url])
    assert r.exit_code == 0
    with make_sessionmaker(engine)() as s:
        assert store.find_active_key(s, key) is None
    engine.dispose()
    assert runner.invoke(app, ["keys", "revoke", "nope", "--database-url", db_url]).exit_code == 1
    r = runner.invoke(app, ["keys", "create", "--role", "root", "--database-url", db_url])
    assert r.exit_code != 0


def test_keys_create_uses_the_database_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    r = CliRunner().invoke(app, ["keys", "create", "--role", "admin"], env={"CHOUJIAN_DATABASE_URL": url})
    assert r.exit_code == 0, r.output
    assert (tmp_path / "env.db").exists()
