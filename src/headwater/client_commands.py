"""Client commands of the `headwater` CLI: `ingest` (bulk import of files), `events tail`
and `export` (the events as an OCEL 2.0 or XES event log).

They talk to a running server over HTTP with the SDK (`headwater.client`), so they
work against any Headwater (or Seyn v1) deployment: `--base-url` / `HEADWATER_URL`,
`--api-key` / `HEADWATER_API_KEY`. Exit codes: 0 all records stored or unchanged,
1 some records rejected (or a batch failed to normalize), 2 usage or connection errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import click
from click.decorators import FC

if TYPE_CHECKING:
    from headwater.client import HeadwaterClient
    from headwater.importer import FileReport

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2

base_url_option = click.option(
    "--base-url",
    envvar="HEADWATER_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="Where the Headwater API is.",
)


def api_key_option_for(scopes: str) -> Callable[[FC], FC]:
    """--api-key, its help naming the scopes the command needs."""
    return click.option("--api-key", envvar="HEADWATER_API_KEY", show_envvar=True, help=scopes)


api_key_option = api_key_option_for("A key with scope ingest (and read, for outcomes).")
retries_option = click.option(
    "--retries",
    default=7,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Retries of a request after a network error, 429 or 5xx.",
)


def _client(base_url: str, api_key: str | None, retries: int) -> HeadwaterClient:
    from headwater.client import HeadwaterClient

    if not api_key or not api_key.strip():
        raise click.UsageError("no API key: pass --api-key or set HEADWATER_API_KEY")
    try:
        return HeadwaterClient(api_key, base_url, max_retries=retries)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


class Progress:
    """A progress bar on a terminal; elsewhere (CI logs, pipes) a line every 10%."""

    def __init__(
        self, label: str, total: int, enabled: bool, stream: TextIO, unit: str = "records"
    ) -> None:
        self.label = label
        self.unit = unit
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.shown = 0
        self.step = -1
        self.records = 0
        self.bar: Any = None
        if self.tty:
            self.bar = click.progressbar(
                length=self.total,
                label=label,
                file=stream,
                show_percent=True,
                show_eta=True,
                item_show_func=lambda text: text,
            )
            self.bar.__enter__()

    def update(self, done: int, records: int) -> None:
        self.records = records
        if not self.enabled:
            return
        done = min(done, self.total)
        if self.bar is not None:
            self.bar.update(done - self.shown, f"{records:,} {self.unit}")
            self.shown = done
            return
        step = done * 10 // self.total
        if step > self.step:
            self.step = step
            click.echo(f"{self.label}: {records:,} {self.unit}, {step * 10}%", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("ingest")
@click.option("--source", "source_id", required=True, help="The source to load into (its id).")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "json", "csv"]),
    default="auto",
    show_default=True,
    help="auto: by extension (.jsonl .ndjson .json .csv .tsv), else by the first character.",
)
@click.option(
    "--record-id-column",
    default="recordId",
    show_default=True,
    help="Column (field, for flat JSON rows) holding the recordId.",
)
@click.option(
    "--entity-type-column",
    default="entityType",
    show_default=True,
    help="Column holding the entityType.",
)
@click.option("--entity-type", help="The entityType of rows without an entity-type column.")
@click.option(
    "--updated-at-column",
    default="sourceUpdatedAt",
    show_default=True,
    help="Column holding sourceUpdatedAt (RFC 3339 with a time zone).",
)
@click.option("--updated-at", help="sourceUpdatedAt of rows without one (RFC 3339). Default: now.")
@click.option("--delimiter", default=",", show_default=True, help="CSV delimiter.")
@click.option(
    "--rejected",
    "rejected_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write refused records (JSON Lines, fix and re-import). "
    "Default: <file>.rejected.jsonl beside each input.",
)
@click.option("--wait/--no-wait", default=False, show_default=True, help="Wait until normalized.")
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once. Versions of one record are still sent in file order.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@base_url_option
@api_key_option
@retries_option
def ingest(
    source_id: str,
    files: tuple[Path, ...],
    fmt: str,
    record_id_column: str,
    entity_type_column: str,
    entity_type: str | None,
    updated_at_column: str,
    updated_at: str | None,
    delimiter: str,
    rejected_path: Path | None,
    wait: bool,
    concurrency: int,
    progress: bool,
    as_json: bool,
    base_url: str,
    api_key: str | None,
    retries: int,
) -> None:
    """Load records from files (JSON Lines, a JSON array, or CSV) into a source.

    A JSON object with a `payload` key is a record as the API takes it. Any other
    object, and each CSV row, is a flat row: its recordId, entityType and
    sourceUpdatedAt columns are taken out and the other columns become the payload.
    Re-running an import is cheap: unchanged records are recognised by content.

    Example: headwater ingest --source 0191… deals.csv --entity-type deal
    """
    from headwater import importer
    from headwater.client import HeadwaterError

    if len(delimiter) != 1:
        raise click.BadParameter("must be one character", param_hint="--delimiter")
    client = _client(base_url, api_key, retries)
    columns = importer.Columns(
        record_id=record_id_column,
        entity_type=entity_type_column,
        updated_at=updated_at_column,
        entity_type_value=entity_type,
        updated_at_value=updated_at,
        delimiter=delimiter,
    )
    try:
        formats: dict[Path, importer.Format] = {
            path: importer.detect_format(path) if fmt == "auto" else cast("importer.Format", fmt)
            for path in files
        }
    except importer.ImportUsageError as exc:
        raise click.UsageError(str(exc)) from None
    if rejected_path is not None and rejected_path.resolve() in {p.resolve() for p in files}:
        raise click.BadParameter("must not be one of the input files", param_hint="--rejected")
    reports: list[FileReport] = []
    shared = importer.RejectedWriter(rejected_path) if rejected_path is not None else None
    try:
        _check_source(client, source_id)
        for path in files:
            writer = shared or importer.RejectedWriter(importer.default_rejected_path(path))
            bar = Progress(path.name, path.stat().st_size, progress, sys.stderr)
            try:
                reports.append(
                    importer.import_file(
                        client, source_id, path, formats[path], columns, writer, bar.update,
                        wait, concurrency,
                    )
                )  # fmt: skip
            finally:
                bar.close()
                if shared is None:
                    writer.close()
    except importer.ImportUsageError as exc:
        raise click.UsageError(str(exc)) from None
    except HeadwaterError as exc:
        done = sum(r.records for r in reports)
        done += exc.partial.records if exc.partial is not None else 0
        _fail(
            f"{exc}\nacknowledged before this: {_plural(done, 'record')}; running the same "
            "import again is safe (stored records come back unchanged)"
        )
    except KeyboardInterrupt:
        click.echo("interrupted; re-running the import is safe (content dedup)", err=True)
        sys.exit(130)
    finally:
        if shared is not None:
            shared.close()
        client.close()
    sys.exit(_summarize(reports, source_id, as_json))


def _check_source(client: HeadwaterClient, source_id: str) -> None:
    """Fail early on a wrong source id or key; a key without `read` skips the check."""
    from headwater.client import HeadwaterError

    try:
        source = client.sources.get(source_id)
    except HeadwaterError as exc:
        if exc.code == "INSUFFICIENT_SCOPE":
            return
        if exc.code == "NOT_FOUND":
            _fail(f"source {source_id} not found (for this API key)")
        raise
    if source.status != "active":
        _fail(f"source {source_id} is {source.status}; only an active source takes records")


def _summarize(reports: list[FileReport], source_id: str, as_json: bool) -> int:
    keys = ("created", "superseded", "unchanged", "stale")
    totals = dict.fromkeys((*keys, "rejected", "records"), 0)
    failed = 0
    known = all(r.result.outcomes_known for r in reports)
    files = []
    for report in reports:
        result = report.result
        counts = {k: getattr(result, k) for k in keys}
        counts["rejected"] = report.rejected
        counts["records"] = report.records
        for k, v in counts.items():
            totals[k] += v
        failed += len(result.failed_batches)
        files.append(
            {
                "file": str(report.path),
                **counts,
                "accepted": result.accepted,
                "deduplicated": result.deduplicated,
                "batches": len(result.batch_ids),
                "seconds": round(report.seconds, 3),
                "rejectedFile": str(report.rejected_path) if report.rejected else None,
            }
        )
    code = EXIT_REJECTED if totals["rejected"] or failed else EXIT_OK
    if as_json:
        summary = {"sourceId": source_id, "files": files, "totals": totals,
                   "outcomesKnown": known, "failedBatches": failed, "exitCode": code}  # fmt: skip
        click.echo(json.dumps(summary))
        return code
    for report, info in zip(reports, files, strict=True):
        click.echo(
            f"{report.path}: {_plural(info['records'], 'record')} in {report.seconds:.1f} s "
            f"({_plural(info['batches'], 'request')})"
        )
        if known:
            for k in (*keys, "rejected"):
                click.echo(f"  {k:<11}{info[k]:>12,}")
        else:  # a key without `read`, or a server without per-batch outcomes
            click.echo(f"  {'accepted':<11}{report.result.accepted:>12,}")
            click.echo(f"  {'unchanged':<11}{report.result.deduplicated:>12,}")
            click.echo(f"  {'rejected':<11}{report.rejected:>12,}")
    if len(reports) > 1:
        click.echo(f"total: {totals['records']:,} records")
        for k in (*keys, "rejected"):
            click.echo(f"  {k:<11}{totals[k]:>12,}")
    unchanged = totals["unchanged"] if known else sum(r.result.deduplicated for r in reports)
    if totals["records"] and unchanged == totals["records"]:
        click.echo(
            f"Nothing new: all {unchanged:,} records were already stored "
            "(deduplicated by content, nothing written)."
        )
    for report in reports:
        if report.rejected:
            click.echo(
                f"{_plural(report.rejected, 'record')} of {report.path.name} rejected: "
                f"see {report.rejected_path}; fix them and run "
                f"`headwater ingest --source {source_id} {report.rejected_path}`",
                err=True,
            )
    if failed:
        click.echo(
            f"{_plural(failed, 'batch', 'batches')} failed to normalize (status error).", err=True
        )
    return code


@click.group("events")
def events() -> None:
    """Read the event feed."""


@events.command("tail")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new events (Ctrl-C stops).")
@click.option("--after", default="", help="Resume from this cursor (printed on exit).")
@click.option("--source", "source_id", help="Only events of this source.")
@click.option("--entity-type")
@click.option("--entity-id")
@click.option("--action")
@click.option("--actor", "actor_id", help="Only events of this actor (id).")
@click.option("--include-deleted", is_flag=True)
@click.option("--poll-interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option(
    "--max-events", type=click.IntRange(min=1), help="Stop after printing this many events."
)
@base_url_option
@api_key_option_for("A key with scope read.")
@retries_option
def tail(
    follow: bool,
    after: str,
    source_id: str | None,
    entity_type: str | None,
    entity_id: str | None,
    action: str | None,
    actor_id: str | None,
    include_deleted: bool,
    poll_interval: float,
    max_events: int | None,
    base_url: str,
    api_key: str | None,
    retries: int,
) -> None:
    """Print the event feed as JSON lines, oldest first; with --follow, wait for more.

    On exit the cursor to resume from is printed to stderr (`--after CURSOR`).
    Example: headwater events tail --follow --source 0191…
    """
    import msgspec

    from headwater.client import HeadwaterError

    client = _client(base_url, api_key, retries)
    feed = client.events.feed(
        after=after,
        follow=follow,
        poll_interval=poll_interval,
        source_id=source_id,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        actor_id=actor_id,
        include_deleted=include_deleted or None,
        max_events=max_events,
    )
    printed = 0
    try:
        for event in feed:
            wire = msgspec.to_builtins(event)
            for extra in ("provenance", "stateBefore", "stateAfter"):
                wire.pop(extra, None)
            click.echo(json.dumps(wire, ensure_ascii=False))  # flushes: a pipe sees each line
            printed += 1
    except HeadwaterError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    click.echo(f"cursor: {feed.cursor}", err=True)


@click.command("export")
@click.argument("kind", type=click.Choice(["ocel", "xes"]))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (written as <FILE>.part, renamed when complete).",
)
@click.option("--source", "source_id", help="Only events of this source (its id).")
@click.option("--entity-type", help="Only events of this entity type (for XES, usually wanted).")
@click.option("--from", "time_from", help="Events at or after this time (RFC 3339).")
@click.option("--to", "time_to", help="Events before this time (RFC 3339).")
@click.option("--include-deleted", is_flag=True, help="Also events of deleted records.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@base_url_option
@api_key_option
@retries_option
def export(
    kind: str,
    out: Path,
    source_id: str | None,
    entity_type: str | None,
    time_from: str | None,
    time_to: str | None,
    include_deleted: bool,
    progress: bool,
    base_url: str,
    api_key: str | None,
    retries: int,
) -> None:
    """Write the events as a process-mining event log: OCEL 2.0 JSON or IEEE 1849 XES.

    OCEL holds every entity and actor as an object; XES has one trace per entity (pass
    --entity-type to get one process). Read either with pm4py (docs/EXPORTS.md).
    Example: headwater export xes --entity-type deal --out deals.xes
    """
    from headwater.client import HeadwaterError

    client = _client(base_url, api_key, retries)
    bar: Progress | None = None

    def on_progress(events: int, total: int, written: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(out.name, total, progress, sys.stderr, unit="events")
        bar.update(events, events)

    method = client.export.ocel if kind == "ocel" else client.export.xes
    try:
        result = method(
            out,
            source_id=source_id,
            entity_type=entity_type,
            time_from=time_from,
            time_to=time_to,
            include_deleted=include_deleted or None,
            on_progress=on_progress,
        )
    except HeadwaterError as exc:
        if bar is not None:
            bar.close()
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        click.echo("interrupted; nothing was written", err=True)
        sys.exit(130)
    finally:
        client.close()
    if bar is not None:
        bar.close()
    click.echo(f"{out}: {_plural(result.events, 'event')}, {result.bytes:,} bytes ({kind})")
