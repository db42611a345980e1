"""The `headwater` command line: serve, migrate, keys. Each command is a thin shell.

Every option can also be set by an environment variable (shown in --help).

The server commands import the service (Starlette, the stores, the metrics) only when
they run, so the client commands work from an install without the `server` extra; run
there, a server command says what to install (`_server_part`).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from headwater import client_commands, rule_commands
from headwater.config import DEFAULTS, Settings

#: top-level modules of the `server` extra's distributions (pyproject.toml)
SERVER_MODULES = frozenset(
    {"starlette", "uvicorn", "uvloop", "httptools", "uuid_utils", "alembic", "sqlalchemy"}
    | {"psycopg", "psycopg_pool", "prometheus_client"}
)
SERVER_HINT = (
    "`headwater {command}` runs the Headwater service, which this installation does not "
    "include ({missing} is missing). Install the server extra: pip install 'headwater[server]' "
    "(or: uv tool install 'headwater[server]'). The client commands (ingest, events) work "
    "without it."
)


@contextmanager
def _server_part(command: str) -> Iterator[None]:
    """Imports of the service inside this block fail with an install hint, not a traceback,
    when the `server` extra is not installed."""
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in SERVER_MODULES:
            raise
        raise click.ClickException(SERVER_HINT.format(command=command, missing=missing)) from None


database_option = click.option(
    "--database-url",
    envvar="HEADWATER_DATABASE_URL",
    default=DEFAULTS.database_url,
    show_default=True,
    show_envvar=True,
    help="sqlite:///path.db (embedded) or postgresql://user@host/db.",
)


@click.group()
@click.version_option(package_name="headwater")
def main() -> None:
    """Headwater: ingest records verbatim, deduplicate, version, normalize into events."""


@main.command()
@click.option(
    "--host", envvar="HEADWATER_HOST", default=DEFAULTS.host, show_default=True, show_envvar=True
)
@click.option(
    "--port",
    envvar="HEADWATER_PORT",
    default=DEFAULTS.port,
    show_default=True,
    show_envvar=True,
    type=int,
)
@database_option
@click.option(
    "--log-level",
    envvar="HEADWATER_LOG_LEVEL",
    default=DEFAULTS.log_level,
    show_default=True,
    show_envvar=True,
)
@click.option(
    "--worker/--no-worker",
    "embedded_worker",
    envvar="HEADWATER_EMBEDDED_WORKER",
    default=DEFAULTS.embedded_worker,
    show_default=True,
    show_envvar=True,
    help="Run the normalizer inside this process.",
)
@click.option(
    "--rate-limit",
    envvar="HEADWATER_RATE_LIMIT",
    default=DEFAULTS.rate_limit,
    show_default=True,
    show_envvar=True,
    help="Requests per second per API key; 0 turns the limit off.",
)
@click.option(
    "--discover-interval",
    envvar="HEADWATER_DISCOVER_INTERVAL",
    default=DEFAULTS.discover_interval,
    show_default=True,
    show_envvar=True,
    help="Seconds between an organisation's scheduled discovery runs; 0 turns them off.",
)
@click.option(
    "--rate-burst",
    envvar="HEADWATER_RATE_BURST",
    default=DEFAULTS.rate_burst,
    show_default=True,
    show_envvar=True,
    help="Requests a key may send at once before the rate applies.",
)
@click.option(
    "--console/--no-console",
    envvar="HEADWATER_CONSOLE",
    default=True,
    show_default=True,
    show_envvar=True,
    help="Serve the web console at /console.",
)
def serve(
    host: str,
    port: int,
    database_url: str,
    log_level: str,
    embedded_worker: bool,
    rate_limit: float,
    discover_interval: float,
    rate_burst: float,
    console: bool,
) -> None:
    """Run the HTTP API (migrating the database first), with the normalizer in-process.

    Example: headwater serve --port 8000 --database-url sqlite:///headwater.db
    """
    with _server_part("serve"):
        import uvicorn

        from headwater.api.app import create_app
        from headwater.api.server import EnvelopeHttpToolsProtocol
        from headwater.database_notice import announce
        from headwater.observability import configure_logging

    settings = Settings.from_env(
        host=host,
        port=port,
        database_url=database_url,
        log_level=log_level,
        embedded_worker=embedded_worker,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        discover_interval=discover_interval,
        console=console,
    )
    announce(database_url)
    configure_logging(log_level)
    _tune_gc()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        http=EnvelopeHttpToolsProtocol,  # httptools; its parser errors in the envelope
        ws="none",  # no WebSocket endpoints: an upgrade request is served as plain HTTP
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        access_log=False,  # headwater.access logs one JSON line per request instead
        server_header=False,  # naming the server library only helps an attacker pick exploits
        log_config=None,
    )


@main.command()
@database_option
@click.option(
    "--poll-interval",
    envvar="HEADWATER_POLL_INTERVAL",
    default=DEFAULTS.poll_interval,
    show_default=True,
    show_envvar=True,
    type=float,
    help="Seconds between polls when idle.",
)
@click.option(
    "--lease",
    envvar="HEADWATER_LEASE",
    default=DEFAULTS.lease_seconds,
    show_default=True,
    show_envvar=True,
    type=float,
    help="Seconds a claimed batch stays this worker's.",
)
@click.option(
    "--discover-interval",
    envvar="HEADWATER_DISCOVER_INTERVAL",
    default=DEFAULTS.discover_interval,
    show_default=True,
    show_envvar=True,
    help="Seconds between an organisation's scheduled discovery runs; 0 turns them off.",
)
def worker(database_url: str, poll_interval: float, lease: float, discover_interval: float) -> None:
    """Run a standalone normalizer (any number may share one database).

    SIGTERM or Ctrl-C finishes the batch in progress, then exits.
    Example: headwater worker --database-url postgresql://postgres@127.0.0.1/headwater
    """
    import signal
    import threading

    with _server_part("worker"):
        from headwater.database_notice import announce
        from headwater.observability import configure_logging
        from headwater.store import migrate as migrations
        from headwater.store import open_store
        from headwater.worker import Worker

    announce(database_url)
    configure_logging("info")
    migrations.upgrade(database_url)
    store = open_store(database_url)
    stop = threading.Event()
    normalizer = Worker(
        store,
        poll_interval=poll_interval,
        lease_seconds=lease,
        discover_interval=discover_interval,
    )

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        normalizer.wake()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    _tune_gc()
    try:
        normalizer.run(stop)
    finally:
        store.close()


@main.command()
@database_option
@click.option(
    "--org", "org_name", default=None, help="Organisation name; default: every organisation."
)
@click.option(
    "--min-support",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Cases a rule needs.",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=0.8,
    show_default=True,
    help="Fraction a rule needs, where it is one.",
)
@click.option(
    "--top-variants",
    type=click.IntRange(1, 100),
    default=20,
    show_default=True,
    help="Variants listed per process.",
)
def discover(
    database_url: str,
    org_name: str | None,
    min_support: int,
    min_confidence: float,
    top_variants: int,
) -> None:
    """Run discovery now: compute every process and write a new active library.

    The run is queued and then run in this process, exactly as a worker runs it.
    Example: headwater discover --org acme
    """
    with _server_part("discover"):
        from headwater.core.knowledge import DiscoverParameters, LibraryOrigin, new_library
        from headwater.database_notice import announce
        from headwater.ids import new_id, now_micros
        from headwater.observability import configure_logging
        from headwater.store import migrate as migrations
        from headwater.store import open_store
        from headwater.worker import Worker

    announce(database_url)
    configure_logging("warning")
    migrations.upgrade(database_url)
    store = open_store(database_url)
    parameters = DiscoverParameters(
        minSupport=min_support, minConfidence=min_confidence, topVariants=top_variants
    )
    try:
        organisations = store.find_organisations(org_name)
        if org_name is not None and not organisations:
            raise click.BadParameter(f"no organisation named {org_name!r}", param_hint="--org")
        runner = Worker(store, worker_id=f"cli-{new_id()[-12:]}")
        failed = False
        for organisation in organisations:
            run = new_library(
                new_id(), organisation.id, parameters, LibraryOrigin.REQUEST, now_micros()
            )
            with store.write() as tx:
                tx.insert_library(run)
            runner.run_discovery_once(run.id)
            done = store.get_library(organisation.id, run.id)
            assert done is not None
            failed |= done.status.value != "done"
            click.echo(
                f"{organisation.name}: library {done.id} {done.status.value}, "
                f"{done.processes or 0} processes from {done.events_read or 0} events"
                + (f" ({done.error_code}: {done.error_message})" if done.error_code else "")
            )
    finally:
        store.close()
    if failed:
        sys.exit(1)


@main.command()
@database_option
def migrate(database_url: str) -> None:
    """Create or upgrade the database schema to this release."""
    with _server_part("migrate"):
        from headwater.database_notice import announce
        from headwater.store import migrate as migrations

    announce(database_url)
    migrations.upgrade(database_url)
    click.echo(f"schema at {migrations.current_revision(database_url)}")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option(
    "--org", "org_name", required=True, help="Organisation name; created if it does not exist."
)
@click.option(
    "--scopes", default="ingest,read", show_default=True, help="Comma-separated: ingest,read,admin."
)
@click.option("--label", default="cli", show_default=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (token, id, orgId, scopes)."
)
@database_option
def create_key(org_name: str, scopes: str, label: str, as_json: bool, database_url: str) -> None:
    """Create an API key (and its organisation). The token is shown only once.

    Example: headwater keys create --org acme --scopes ingest,read,admin --json
    """
    with _server_part("keys create"):
        from headwater import keys as key_service
        from headwater.database_notice import announce
        from headwater.store import migrate as migrations
        from headwater.store import open_store

    announce(database_url)
    migrations.upgrade(database_url)
    store = open_store(database_url)
    try:
        with store.write() as tx:
            organisation, key, token = key_service.issue_for_organisation(
                tx, org_name, label, scopes.split(",")
            )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from None
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "token": token,
                    "id": key.id,
                    "orgId": organisation.id,
                    "org": organisation.name,
                    "label": key.label,
                    "scopes": sorted(key.scopes),
                }
            )
        )
    else:
        click.echo(f"organisation {organisation.name} ({organisation.id})")
        click.echo(f"key {key.id} scopes={','.join(sorted(key.scopes))}")
        click.echo(f"token {token}   (shown once: store it now)")


def _tune_gc() -> None:
    """Parsed JSON makes many short-lived containers; CPython's default gen-0 threshold
    then rescans the heap so often that batch p99 grows ~10x (docs/PERFORMANCE.md)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# Client-side commands (they talk to a running server over HTTP): headwater/client_commands.py
main.add_command(client_commands.ingest)
main.add_command(client_commands.events)
main.add_command(client_commands.export)
main.add_command(rule_commands.rules)


if __name__ == "__main__":
    main()
