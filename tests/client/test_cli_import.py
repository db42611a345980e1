"""`headwater ingest` and `headwater events tail` against a live server."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from headwater.cli import main
from tests.client.conftest import Live, deal

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")


def run(live: Live, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main,
        list(args),
        env={"HEADWATER_URL": live.base_url, "HEADWATER_API_KEY": live.token, **(env or {})},
    )


def summary(result: Result) -> dict[str, Any]:
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def counts_in(text: str) -> dict[str, int]:
    """The summary table: `  created   50,000` lines."""
    found = re.findall(r"^  (created|superseded|unchanged|stale|rejected)\s+([\d,]+)$", text, re.M)
    return {name: int(number.replace(",", "")) for name, number in found}


@pytest.mark.backends("sqlite")
def test_a_50_000_line_json_lines_file_imports_with_progress_then_reimports_as_unchanged(
    live_loader: Live, tmp_path: Path
) -> None:
    path = tmp_path / "deals.jsonl"
    with path.open("w") as out:
        for i in range(50_000):
            out.write(json.dumps(deal(i)) + "\n")

    first = run(live_loader, "ingest", "--source", live_loader.source_id, str(path))
    assert first.exit_code == 0, first.output
    assert counts_in(first.stdout) == {
        "created": 50_000, "superseded": 0, "unchanged": 0, "stale": 0, "rejected": 0,
    }  # fmt: skip
    progress = re.findall(r"^deals\.jsonl: ([\d,]+) records, (\d+)%$", first.stderr, re.M)
    assert len(progress) >= 10  # a line per 10% when the output is not a terminal
    assert progress[-1] == ("50,000", "100")
    percents = [int(p) for _, p in progress]
    assert percents == sorted(percents)
    assert not (tmp_path / "deals.rejected.jsonl").exists()

    second = run(live_loader, "ingest", "--source", live_loader.source_id, str(path))
    assert second.exit_code == 0, second.output
    assert counts_in(second.stdout) == {
        "created": 0, "superseded": 0, "unchanged": 50_000, "stale": 0, "rejected": 0,
    }  # fmt: skip
    assert "Nothing new: all 50,000 records were already stored" in second.stdout
    with live_loader.http() as http:
        source = http.get(f"/v1/sources/{live_loader.source_id}").json()["data"]
    assert source["counts"]["versions"] == 50_000  # the re-runs stored nothing


@pytest.mark.backends("sqlite")
def test_a_csv_file_maps_columns_and_the_rest_becomes_the_payload(
    live_loader: Live, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    rows = ["id,name,email,updated,plan"]
    rows += [f"c{i},Contact {i},c{i}@acme.test,2026-06-10T14:03:00Z,pro" for i in range(3000)]
    rows.append('c-quoted,"Smith, Jane ""JJ""",jj@acme.test,2026-06-10T14:03:00Z,free')
    path.write_text("\n".join(rows) + "\n")
    args = ["ingest", "--source", live_loader.source_id, str(path), "--record-id-column", "id",
            "--entity-type", "contact", "--updated-at-column", "updated"]  # fmt: skip

    first = run(live_loader, *args)
    assert first.exit_code == 0, first.output
    assert counts_in(first.stdout)["created"] == 3001
    assert "contacts.csv: 3,001 records, 100%" in first.stderr
    with live_loader.http() as http:
        record = http.get(f"/v1/sources/{live_loader.source_id}/records/contact/c-quoted").json()[
            "data"
        ]
        payload = http.get(f"/v1/records/versions/{record['head']['versionId']}/payload")
    assert record["head"]["sourceUpdatedAt"] == "2026-06-10T14:03:00Z"
    assert payload.json() == {"name": 'Smith, Jane "JJ"', "email": "jj@acme.test", "plan": "free"}

    second = run(live_loader, *args)
    assert second.exit_code == 0, second.output
    assert counts_in(second.stdout) == {
        "created": 0, "superseded": 0, "unchanged": 3001, "stale": 0, "rejected": 0,
    }  # fmt: skip
    assert "Nothing new: all 3,001 records were already stored" in second.stdout
    as_json = run(live_loader, *args, "--json")
    assert summary(as_json)["totals"] == {"created": 0, "superseded": 0, "unchanged": 3001,
                                          "stale": 0, "rejected": 0, "records": 3001}  # fmt: skip
    assert summary(as_json)["exitCode"] == 0

    # one changed row: one superseded, the rest unchanged
    rows[5] = rows[5].replace(",pro", ",enterprise").replace("T14:03", "T15:00")
    path.write_text("\n".join(rows) + "\n")
    third = run(live_loader, *args)
    assert counts_in(third.stdout) == {
        "created": 0, "superseded": 1, "unchanged": 3000, "stale": 0, "rejected": 0,
    }  # fmt: skip


@pytest.mark.backends("sqlite")
def test_rejected_records_go_to_a_file_that_can_be_fixed_and_sent_again(
    live_loader: Live, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(deal(i)) for i in range(10)]
    lines[2] = json.dumps({**deal(2), "sourceUpdatedAt": "yesterday"})
    lines[6] = "{this is not json"
    lines.insert(8, "")  # blank lines are skipped, line numbers stay true
    lines.append(json.dumps({"id": "flat-1", "kind": "deal", "name": "Flat"}))  # flat, no type
    path.write_text("\n".join(lines) + "\n")

    first = run(live_loader, "ingest", "--source", live_loader.source_id, str(path))
    assert first.exit_code == 1, first.output
    assert counts_in(first.stdout) == {
        "created": 8, "superseded": 0, "unchanged": 0, "stale": 0, "rejected": 3,
    }  # fmt: skip
    rejected_path = tmp_path / "mixed.rejected.jsonl"
    assert str(rejected_path) in first.stderr
    rejected = [json.loads(line) for line in rejected_path.read_text().splitlines()]
    notes = sorted((r["_rejected"]["line"], r["_rejected"]["code"]) for r in rejected)
    assert notes == [(3, "INVALID_TIMESTAMP"), (7, "INVALID_JSON"), (12, "INVALID_RECORD_ID")]
    by_code = {r["_rejected"]["code"]: r for r in rejected}
    assert by_code["INVALID_TIMESTAMP"]["recordId"] == "deal-2"
    assert by_code["INVALID_JSON"]["_raw"] == "{this is not json"
    assert by_code["INVALID_RECORD_ID"]["id"] == "flat-1"

    # the user fixes the file in place and sends it again
    fixed = []
    for record in rejected:
        code = record["_rejected"]["code"]
        if code == "INVALID_TIMESTAMP":
            record["sourceUpdatedAt"] = "2026-06-10T14:03:00Z"
        elif code == "INVALID_JSON":
            record = {**deal(6)}
        else:
            record = {"recordId": record["id"], "entityType": record["kind"], **record}
        fixed.append(json.dumps(record))
    rejected_path.write_text("\n".join(fixed) + "\n")
    again = run(live_loader, "ingest", "--source", live_loader.source_id, str(rejected_path))
    assert again.exit_code == 0, again.output
    assert counts_in(again.stdout)["created"] == 3
    assert not rejected_path.exists()  # nothing left to fix
    with live_loader.http() as http:
        flat = http.get(f"/v1/sources/{live_loader.source_id}/records/deal/flat-1").json()
        payload = http.get(
            f"/v1/records/versions/{flat['data']['head']['versionId']}/payload"
        ).json()
    assert payload == {"id": "flat-1", "kind": "deal", "name": "Flat"}


@pytest.mark.backends("sqlite")
def test_usage_and_connection_errors_exit_2(live_loader: Live, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(deal(1)) + "\n")
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("name,stage\nA,new\n")
    source = live_loader.source_id

    unreachable = run(live_loader, "ingest", "--source", source, str(path), "--retries", "0",
                      env={"HEADWATER_URL": "http://127.0.0.1:9"})  # fmt: skip
    assert unreachable.exit_code == 2
    assert "CONNECTION_ERROR" in unreachable.stderr

    no_key = run(live_loader, "ingest", "--source", source, str(path),
                 env={"HEADWATER_API_KEY": ""})  # fmt: skip
    assert no_key.exit_code == 2 and "API key" in no_key.output

    bad_key = run(live_loader, "ingest", "--source", source, str(path),
                  env={"HEADWATER_API_KEY": "sk_live_" + "0" * 40})  # fmt: skip
    assert bad_key.exit_code == 2 and "INVALID_API_KEY" in bad_key.stderr

    unknown = run(live_loader, "ingest", "--source", "0191f3c4-0000-7000-8000-000000000009",
                  str(path))  # fmt: skip
    assert unknown.exit_code == 2 and "not found" in unknown.stderr

    no_column = run(live_loader, "ingest", "--source", source, str(csv_path))
    assert no_column.exit_code == 2 and "--record-id-column" in no_column.output

    missing_file = run(live_loader, "ingest", "--source", source, str(tmp_path / "nope.csv"))
    assert missing_file.exit_code == 2

    onto_input = run(live_loader, "ingest", "--source", source, str(path), "--rejected", str(path))
    assert onto_input.exit_code == 2 and path.exists()


@pytest.mark.backends("sqlite")
def test_events_tail_prints_the_feed_and_resumes_from_its_cursor(
    live: Live, tmp_path: Path
) -> None:
    with live.client() as client:
        client.ingest_all(live.source_id, (deal(i) for i in range(5)), wait=True)
    first = run(live, "events", "tail", "--source", live.source_id, "--max-events", "3")
    assert first.exit_code == 0, first.output
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert [e["action"] for e in events] == ["deal_created"] * 3
    assert {"id", "action", "actor", "entity", "timestamp", "sourceId", "recordVersionId"} <= set(
        events[0]
    )
    cursor = re.search(r"^cursor: (\S+)$", first.stderr, re.M)
    assert cursor is not None
    rest = run(live, "events", "tail", "--source", live.source_id, "--after", cursor.group(1))
    more = [json.loads(line) for line in rest.stdout.splitlines()]
    assert len(more) == 2
    assert {e["entity"]["id"] for e in events + more} == {f"deal-{i}" for i in range(5)}


@pytest.mark.backends("sqlite")
def test_events_tail_prints_events_in_the_shape_the_api_lists_them(live: Live) -> None:
    """One event, one shape: a line of `events tail` is the item of `GET /v1/events` (and of
    the feed, `?after=`), actor included: no `aliases` there, as the API has none."""
    with live.client() as client:
        client.ingest_all(live.source_id, [deal(1) | {"payload": {"owner": "a@x.io"}}], wait=True)
    tail = run(live, "events", "tail", "--source", live.source_id)
    assert tail.exit_code == 0, tail.output
    printed = [json.loads(line) for line in tail.stdout.splitlines()]
    with live.http() as http:
        listed = http.get("/v1/events", params={"sourceId": live.source_id}).json()["data"]
        fed = http.get("/v1/events", params={"sourceId": live.source_id, "after": ""}).json()
    assert [e["action"] for e in printed] == ["deal_created", "deal_owner_assigned"]
    assert printed[0]["actor"]["email"] == "a@x.io"
    assert "aliases" not in printed[0]["actor"]
    by_id = {e["id"]: e for e in listed}
    assert printed == [by_id[e["id"]] for e in printed]
    assert fed["data"] == printed


def test_events_tail_help_names_the_read_scope() -> None:
    help_text = CliRunner().invoke(main, ["events", "tail", "--help"]).stdout
    assert "scope read" in help_text
    assert "scope ingest" not in help_text


@pytest.mark.backends("sqlite")
def test_events_tail_follow_prints_new_events_as_they_arrive(live: Live) -> None:
    env = {**os.environ, "HEADWATER_URL": live.base_url, "HEADWATER_API_KEY": live.token}
    tail = subprocess.Popen(
        [sys.executable, "-m", "headwater", "events", "tail", "--follow", "--source",
         live.source_id, "--poll-interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        with live.client() as client:
            client.ingest_all(live.source_id, [deal(1), deal(2)], wait=True)
        assert tail.stdout is not None
        lines = [tail.stdout.readline() for _ in range(2)]
        assert [json.loads(line)["entity"]["id"] for line in lines] == ["deal-1", "deal-2"]
        assert tail.poll() is None  # still following
    finally:
        tail.terminate()
        tail.wait(10)
        assert tail.stdout is not None and tail.stderr is not None
        tail.stdout.close()
        tail.stderr.close()


@pytest.mark.backends("sqlite")
def test_a_terminal_shows_a_progress_bar(live_loader: Live, tmp_path: Path) -> None:
    path = tmp_path / "bar.jsonl"
    path.write_text("".join(json.dumps(deal(i)) + "\n" for i in range(2000)))
    env = {**os.environ, "HEADWATER_URL": live_loader.base_url,
           "HEADWATER_API_KEY": live_loader.token, "COLUMNS": "100"}  # fmt: skip
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "ingest", "--source", live_loader.source_id,
         str(path)],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env,
    )  # fmt: skip
    os.close(terminal)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        assert process.wait(30) == 0, screen.decode(errors="replace")
        os.close(controller)
    text = screen.decode(errors="replace")
    assert re.search(r"bar\.jsonl\s+\[#+-*\]\s+\d+%", text), text
    assert "2,000 records" in text
    assert re.search(r"created\s+2,000", text)
    assert "records, 10%" not in text  # the line-per-10% form is for non-terminals only


@pytest.mark.backends("sqlite")
def test_the_payload_of_a_wire_form_line_is_sent_verbatim(
    live_loader: Live, tmp_path: Path
) -> None:
    line = (
        b'{"recordId": "v-1", "entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z",'
        b' "payload": {"amount": 1.50, "b":  [1,2], "a": "\\u00e9"}}'
    )
    path = tmp_path / "verbatim.jsonl"
    path.write_bytes(line + b"\n")
    result = run(live_loader, "ingest", "--source", live_loader.source_id, str(path))
    assert result.exit_code == 0, result.output
    with httpx.Client(base_url=live_loader.base_url,
                      headers={"Authorization": f"Bearer {live_loader.token}"}) as http:  # fmt: skip
        head = http.get(f"/v1/sources/{live_loader.source_id}/records/deal/v-1").json()
        payload = http.get(f"/v1/records/versions/{head['data']['head']['versionId']}/payload")
    assert payload.content == b'{"amount": 1.50, "b":  [1,2], "a": "\\u00e9"}'


@pytest.mark.backends("sqlite")
def test_a_json_array_of_flat_rows(live_loader: Live, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    rows = [{"key": 100 + i, "title": f"Ticket {i}", "status": "open",
             "modified": "2026-06-10T14:03:00+02:00"} for i in range(700)]  # fmt: skip
    path.write_text(json.dumps(rows, indent=2))
    args = ["ingest", "--source", live_loader.source_id, str(path), "--record-id-column", "key",
            "--entity-type", "ticket", "--updated-at-column", "modified", "--json"]  # fmt: skip
    result = run(live_loader, *args)
    assert result.exit_code == 0, result.output
    assert summary(result)["totals"]["created"] == 700
    assert summary(result)["files"][0]["batches"] == 2
    with live_loader.http() as http:
        record = http.get(f"/v1/sources/{live_loader.source_id}/records/ticket/105").json()
        payload = http.get(f"/v1/records/versions/{record['data']['head']['versionId']}/payload")
    assert record["data"]["head"]["sourceUpdatedAt"] == "2026-06-10T12:03:00Z"
    assert payload.json() == {"title": "Ticket 5", "status": "open"}


@pytest.mark.backends("sqlite")
def test_concurrent_requests_keep_one_records_versions_in_file_order(
    live_loader: Live, tmp_path: Path
) -> None:
    """deal-0 is in the 1st, 2nd and 3rd request with the same sourceUpdatedAt: arrival
    decides (spec §4.3), so the file's last version must end as the head, as it would
    one request at a time."""
    lines = [deal(i) for i in range(1200)]
    for position, stage in ((600, "won"), (1100, "lost")):
        lines[position] = {**deal(0), "payload": {**deal(0)["payload"], "stage": stage}}
    path = tmp_path / "deals.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    source = live_loader.new_source("concurrency")

    result = run(live_loader, "ingest", "--source", source, str(path), "--concurrency", "4",
                 "--json", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    totals = summary(result)["totals"]
    assert (totals["created"], totals["superseded"]) == (1198, 2), totals
    with live_loader.http() as http:
        head = http.get(f"/v1/sources/{source}/records/deal/deal-0").json()["data"]["head"]
        payload = http.get(f"/v1/records/versions/{head['versionId']}/payload").json()
    assert payload["stage"] == "lost"

    for bad in ("0", "65", "x"):
        refused = run(live_loader, "ingest", "--source", source, str(path), "--concurrency", bad)
        assert refused.exit_code == 2 and "--concurrency" in refused.output
