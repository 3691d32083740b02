"""`choujian serve`, `choujian keys create|list|revoke`, `choujian db upgrade`: the HTTP service and its store."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

keys_app = typer.Typer(help="API keys for the service (stored hashed; the secret is shown once).", no_args_is_help=True)
db_app = typer.Typer(help="The service's store (SQLite file by default, PostgreSQL by URL).", no_args_is_help=True)


class KeyRole(StrEnum):
    platform = "platform"
    planner = "planner"
    ingest = "ingest"
    admin = "admin"


def _store_sessions(database_url: str | None) -> sessionmaker[Session]:
    from serving import store
    from serving.db import make_engine, make_sessionmaker
    from serving.settings import Settings

    url = database_url or Settings().database_url
    engine = make_engine(url)
    store.upgrade(engine)
    return make_sessionmaker(engine)


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes. With more than one, the model is loaded once and the workers are forked "
            "from that process (gunicorn with uvicorn workers), sharing its memory; one per core is right.",
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API (settings from CHOUJIAN_* variables; docs at /docs)."""
    import sys

    # scoring runs in a worker thread while the event loop parses, authenticates and answers requests: hand
    # the interpreter over every 1 ms instead of 5, or each request waits for the scoring thread's turns
    # (measured with benchmarks/serve.py: about a fifth more scoring throughput at 16 clients)
    sys.setswitchinterval(0.001)
    if workers == 1:
        import uvicorn

        uvicorn.run("serving.app:create_app", factory=True, host=host, port=port, log_level=log_level)
        return
    _serve_forked(host=host, port=port, workers=workers, log_level=log_level)


def _serve_forked(*, host: str, port: int, workers: int, log_level: str) -> None:
    """gunicorn's master prepares the app (migrations, keys, the model, the scored market) and forks `workers`
    uvicorn workers from it."""
    from gunicorn.app.base import BaseApplication

    from serving.app import create_app, prepare, warm

    app = create_app()
    prepare(app)
    if app.state.settings.warm_market_on_start:
        # before the fork: scored once, shared by the workers, and no worker spends its first minute on it
        warm(app)

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "uvicorn_worker.UvicornWorker",
                "preload_app": True,
                "loglevel": log_level,
                "timeout": 300,  # a plan over a large market may hold a worker this long
                "graceful_timeout": 30,
            }
            for k, v in options.items():
                self.cfg.set(k, v)

        def load(self) -> object:
            return app

    Server().run()


def keys_create_command(
    role: Annotated[
        KeyRole,
        typer.Option(help="platform (scores), planner (plans), ingest (pushes records) or admin (keys, reload)."),
    ],
    name: Annotated[str, typer.Option(help="Who the key is for (shown in listings).")] = "",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Refuse the key after this many days (default: never).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Create a key and print it ALONE on stdout (it is not stored and cannot be shown again)."""
    from datetime import timedelta

    from serving import store
    from serving.db import utcnow

    expires = None if expires_in_days is None else utcnow() + timedelta(days=expires_in_days)
    with _store_sessions(database_url)() as s:
        row, key = store.create_key(s, role=role.value, name=name, expires_at=expires)
    typer.echo(f"created {role.value} key {row.key_id}", err=True)
    typer.echo(key)


def keys_list_command(
    revoked: Annotated[bool, typer.Option(help="Include revoked keys.")] = False,
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """List keys (ids, roles, names; never secrets)."""
    from rich.console import Console
    from rich.table import Table

    from serving import store

    with _store_sessions(database_url)() as s:
        rows = store.list_keys(s, include_revoked=revoked)
    table = Table(title="API keys")
    for c in ("key id", "role", "name", "created", "revoked", "expires"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r.key_id, r.role, r.name, f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.revoked_at or ''}", f"{r.expires_at or ''}"
        )
    Console().print(table)


def keys_revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after cj_).")],
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Revoke a key: refused from now on (a running server that verified it in the last seconds refuses it
    within CHOUJIAN_AUTH_CACHE_SECONDS; the API's DELETE /v1/admin/keys/{id} stops it at once in its process)."""
    from serving import store

    with _store_sessions(database_url)() as s:
        row = store.revoke_key(s, key_id)
    if row is None:
        typer.echo(f"no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id} (running servers refuse it within CHOUJIAN_AUTH_CACHE_SECONDS)", err=True)


def db_upgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: Annotated[str | None, typer.Option(help="Store URL (default: CHOUJIAN_DATABASE_URL).")] = None,
) -> None:
    """Apply the store's migrations (the service also does this when it starts)."""
    from serving import store
    from serving.db import make_engine
    from serving.settings import Settings

    engine = make_engine(database_url or Settings().database_url)
    store.upgrade(engine, revision)
    typer.echo(f"store at {engine.url.render_as_string(hide_password=True)}: revision {store.current_revision(engine)}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    keys_app.command("create")(keys_create_command)
    keys_app.command("list")(keys_list_command)
    keys_app.command("revoke")(keys_revoke_command)
    db_app.command("upgrade")(db_upgrade_command)
    app.add_typer(keys_app, name="keys")
    app.add_typer(db_app, name="db")
