"""The `headwater` command line: serve, migrate, keys. Each command is a thin shell.

Every option can also be set by an environment variable (shown in --help).
"""

from __future__ import annotations

import gc
import json
import sys

import click

from headwater import client_commands, rule_commands
from headwater.config import DEFAULT_DATABASE_URL, Settings
from headwater.observability import configure_logging

database_option = click.option(
    "--database-url",
    envvar="HEADWATER_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
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
    "--host", envvar="HEADWATER_HOST", default="127.0.0.1", show_default=True, show_envvar=True
)
@click.option(
    "--port", envvar="HEADWATER_PORT", default=8000, show_default=True, show_envvar=True, type=int
)
@database_option
@click.option(
    "--log-level", envvar="HEADWATER_LOG_LEVEL", default="info", show_default=True, show_envvar=True
)
@click.option(
    "--worker/--no-worker",
    "embedded_worker",
    envvar="HEADWATER_EMBEDDED_WORKER",
    default=True,
    show_default=True,
    show_envvar=True,
    help="Run the normalizer inside this process.",
)
@click.option(
    "--rate-limit",
    envvar="HEADWATER_RATE_LIMIT",
    default=1000.0,
    show_default=True,
    show_envvar=True,
    help="Requests per second per API key; 0 turns the limit off.",
)
@click.option(
    "--discover-interval",
    envvar="HEADWATER_DISCOVER_INTERVAL",
    default=600.0,
    show_default=True,
    show_envvar=True,
    help="Seconds between an organisation's scheduled discovery runs; 0 turns them off.",
)
@click.option(
    "--rate-burst",
    envvar="HEADWATER_RATE_BURST",
    default=2000.0,
    show_default=True,
    show_envvar=True,
    help="Requests a key may send at once before the rate applies.",
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
) -> None:
    """Run the HTTP API (migrating the database first), with the normalizer in-process.

    Example: headwater serve --port 8000 --database-url sqlite:///headwater.db
    """
    import uvicorn

    from headwater.api.app import create_app

    settings = Settings.from_env(
        host=host,
        port=port,
        database_url=database_url,
        log_level=log_level,
        embedded_worker=embedded_worker,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        discover_interval=discover_interval,
    )
    configure_logging(log_level)
    _tune_gc()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        http="httptools",
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        access_log=False,  # headwater.access logs one JSON line per request instead
        log_config=None,
    )


@main.command()
@database_option
@click.option(
    "--poll-interval", default=0.2, show_default=True, help="Seconds between polls when idle."
)
@click.option(
    "--lease", default=60.0, show_default=True, help="Seconds a claimed batch stays ours."
)
@click.option(
    "--discover-interval",
    envvar="HEADWATER_DISCOVER_INTERVAL",
    default=600.0,
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

    from headwater.store import migrate as migrations
    from headwater.store import open_store
    from headwater.worker import Worker

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
    from headwater.core.knowledge import DiscoverParameters, new_library
    from headwater.ids import new_id, now_micros
    from headwater.store import migrate as migrations
    from headwater.store import open_store
    from headwater.worker import Worker

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
            run = new_library(new_id(), organisation.id, parameters, "request", now_micros())
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
    from headwater.store import migrate as migrations

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
    from headwater import keys as key_service
    from headwater.store import migrate as migrations
    from headwater.store import open_store

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
main.add_command(rule_commands.rules)


if __name__ == "__main__":
    main()
