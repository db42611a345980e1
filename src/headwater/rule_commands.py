"""`headwater rules` (a readable table) and `headwater rules show ID` (the rule with its
provenance chain): client commands over HTTP, like `ingest` and `events tail`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from headwater.client_commands import (
    _client,
    _fail,
    api_key_option_for,
    base_url_option,
    retries_option,
)

if TYPE_CHECKING:
    from headwater.client.knowledge import Rule, RuleProvenance, RuleSummary

STATUSES = ("inferred", "confirmed", "rejected", "modified")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rules: list[RuleSummary], total: int, offset: int) -> str:
    """The rules as fixed-width columns, then a line saying which of how many."""
    rows = [("ID", "CONF", "FREQ", "REVIEW", "TYPE", "PROCESS", "DESCRIPTION")]
    rows += [
        (r.id, f"{r.confidence:.2f}", str(r.frequency), r.review_status, r.type or "",
         r.process_id or "-", _cut(r.description, 90))
        for r in rules
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]  # fmt: skip
    shown = f"{offset + 1}-{offset + len(rules)}" if rules else "none"
    lines.append(f"{shown} of {total} rules")
    return "\n".join(line.rstrip() for line in lines)


def details(rule: Rule, trail: RuleProvenance) -> str:
    """A rule, its evidence, and each hop of its provenance, as indented text."""
    out = [
        rule.description,
        f"  id          {rule.id}",
        f"  process     {rule.process_id or '-'}  step {rule.applies_at_step or '-'}",
        f"  confidence  {rule.confidence:.4f}  frequency {rule.frequency}  "
        f"review {rule.review_status}",
        f"  condition   {json.dumps(rule.condition, ensure_ascii=False, sort_keys=True)}",
    ]
    if rule.evidence is not None:
        e = rule.evidence
        out.append(f"  evidence    {e.support} of {e.cases} cases hold, "
                   f"{e.counter_examples} counter-examples")  # fmt: skip
    log = trail.inference_log
    tokens = log.token_count
    out += [
        "provenance",
        f"  1 run       {log.id}  {log.model}  created {log.created_at}",
        f"              parameters sha256 {log.prompt_hash}  events read {tokens.input}, "
        f"rules written {tokens.output}",
    ]
    if trail.taught_by is not None:
        t = trail.taught_by
        out.append(f"              taught by key {t.key_id} ({t.label}, {t.prefix}…)")
    listed = len(trail.source_events)
    total = trail.source_events_total if trail.source_events_total is not None else listed
    out.append(f"  2 events    {listed} listed of {total}")
    for event in trail.source_events:
        role = "counter" if event.role == "counterExample" else "example"
        out.append(f"    {role:<8} {event.id}  {event.timestamp}  {event.action}  "
                   f"{event.entity_type}/{event.entity_id or '?'}  -> {event.record_version_id}")  # fmt: skip
    out.append(f"  3 records   {len(trail.raw_records)} raw record versions "
               "(bytes: GET /v1/records/versions/{id}/payload)")  # fmt: skip
    for raw in trail.raw_records:
        out.append(f"    {raw.id}  {raw.entity_type}/{raw.record_id}  ingested {raw.ingested_at}"
                   f"  batch {raw.batch_id}")  # fmt: skip
    out.append(f"  4 sources   {', '.join(f'{s.name} ({s.id})' for s in trail.sources) or '-'}")
    return "\n".join(out)


@click.group("rules", invoke_without_command=True)
@click.option("--status", "review_status", type=click.Choice(STATUSES), help="Review status.")
@click.option("--process", "process_id", help="Only rules of this process (e.g. deal-lifecycle).")
@click.option("--search", help="Case-insensitive text in the description.")
@click.option("--library", "library_id", help="A library id (default: the active library).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@base_url_option
@api_key_option_for("A key with scope read.")
@retries_option
@click.pass_context
def rules(ctx: click.Context, review_status: str | None, process_id: str | None,
          search: str | None, library_id: str | None, limit: int, offset: int, as_json: bool,
          base_url: str, api_key: str | None, retries: int) -> None:  # fmt: skip
    """List the rules of the active library (most confident first); `rules show ID`
    prints one rule with its provenance chain."""
    ctx.ensure_object(dict)
    ctx.obj.update(base_url=base_url, api_key=api_key, retries=retries)
    if ctx.invoked_subcommand is not None:
        return
    import msgspec

    from headwater.client import HeadwaterError

    with _client(base_url, api_key, retries) as client:
        try:
            page = client.rules.list(review_status=review_status, process_id=process_id,
                                     search=search, library_id=library_id, limit=limit,
                                     offset=offset)  # fmt: skip
        except HeadwaterError as exc:
            _fail(str(exc))
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(page.items), ensure_ascii=False))
    else:
        click.echo(table(page.items, page.total, offset))


@rules.command("show")
@click.argument("rule_id")
@click.option("--json", "as_json", is_flag=True, help="Print the rule and provenance as JSON.")
@click.pass_obj
def show(obj: dict[str, Any], rule_id: str, as_json: bool) -> None:
    """One rule with its evidence and provenance: run, events, raw records, sources."""
    import msgspec

    from headwater.client import HeadwaterError

    with _client(obj["base_url"], obj["api_key"], obj["retries"]) as client:
        try:
            rule = client.rules.get(rule_id)
            trail = client.rules.provenance(rule_id)
        except HeadwaterError as exc:
            _fail(str(exc))
    if as_json:
        wire = {"rule": msgspec.to_builtins(rule), "provenance": msgspec.to_builtins(trail)}
        click.echo(json.dumps(wire, ensure_ascii=False))
    else:
        click.echo(details(rule, trail))
