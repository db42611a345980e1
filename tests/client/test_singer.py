"""`target-headwater`, the Singer target: message mapping, STATE only after the records
before it are acknowledged, and a real tap from PyPI (pipelinewise-tap-postgres) reading a
table of the test PostgreSQL, synced twice around an update."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg
import pytest

from headwater.client import HeadwaterClient
from headwater.singer.target import (
    Config,
    Target,
    TargetError,
    entity_type_for,
    main,
    utc_rfc3339,
)
from tests.client.conftest import Live
from tests.conftest import PG_URL

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")

DATA = Path(__file__).parent / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "singer"  #: the README's files
TAP = "pipelinewise-tap-postgres==2.1.0"
TARGET = [sys.executable, "-m", "headwater.singer.target"]


def schema(stream: str, keys: list[str], bookmarks: list[str] | None = None) -> str:
    message: dict[str, Any] = {"type": "SCHEMA", "stream": stream, "key_properties": keys,
                               "schema": {"type": "object", "properties": {}}}  # fmt: skip
    if bookmarks is not None:
        message["bookmark_properties"] = bookmarks
    return json.dumps(message)


def record(stream: str, data: dict[str, Any], time_extracted: str | None = None) -> str:
    message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": data}
    if time_extracted:
        message["time_extracted"] = time_extracted
    return json.dumps(message)


def state(value: Any) -> str:
    return json.dumps({"type": "STATE", "value": value})


class Recorder:
    """A fake Headwater that logs each ingest request into a shared timeline."""

    def __init__(self, timeline: list[tuple[str, Any]], reject: set[str] | None = None) -> None:
        self.timeline = timeline
        self.reject = reject or set()
        self.records: list[dict[str, Any]] = []
        self.count = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # outcomes of a batch
            data = {"batchId": "b", "sourceId": "s", "status": "queued", "accepted": 1,
                    "deduplicated": 0, "rejected": [], "createdAt": "2026-01-01T00:00:00Z",
                    "outcomes": {"created": 1, "superseded": 0, "unchanged": 0, "stale": 0}}  # fmt: skip
            return httpx.Response(200, json={"success": True, "data": data, "meta": {}})
        records = json.loads(request.content)["records"]
        self.records += records
        self.timeline.append(("post", [r["recordId"] for r in records]))
        rejected = [{"index": i, "recordId": r["recordId"], "code": "INVALID_PAYLOAD",
                     "message": "no"} for i, r in enumerate(records) if r["recordId"] in self.reject]  # fmt: skip
        self.count += 1
        data = {"batchId": f"b{self.count}", "sourceId": "s", "status": "queued",
                "accepted": len(records) - len(rejected), "deduplicated": 0,
                "rejected": rejected, "createdAt": "2026-01-01T00:00:00Z"}  # fmt: skip
        return httpx.Response(202, json={"success": True, "data": data, "meta": {}})


class StateOut(io.StringIO):
    def __init__(self, timeline: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.timeline = timeline

    def write(self, text: str) -> int:
        self.timeline.append(("state", json.loads(text)))
        return super().write(text)


def run_target(lines: list[str], reject: set[str] | None = None,
               **config: Any) -> tuple[int, list[tuple[str, Any]], Recorder, str]:  # fmt: skip
    given: Recorder | None = config.get("fake")
    timeline: list[tuple[str, Any]] = given.timeline if given is not None else []
    fake = given or Recorder(timeline, reject)
    log = io.StringIO()
    settings = Config(base_url="http://headwater.test", api_key="sk_live_test", source_id="s",
                      entity_types=config.get("entity_types", {}),
                      concurrency=config.get("concurrency", 4))  # fmt: skip
    with HeadwaterClient("sk_live_test", "http://headwater.test",
                         transport=httpx.MockTransport(fake)) as client:  # fmt: skip
        code = Target(client, settings, StateOut(timeline), log).run(lines)
    return code, timeline, fake, log.getvalue()


def test_state_is_emitted_only_after_the_records_before_it_are_acknowledged() -> None:
    lines = [schema("deals", ["id"]), state("s0")]
    lines += [record("deals", {"id": i}) for i in range(3)]
    lines += [state("s1")]
    lines += [record("deals", {"id": i}) for i in range(3, 703)]
    lines += [state("s2"), record("deals", {"id": 703}), record("deals", {"id": 704}), state("s3")]

    code, timeline, _, _ = run_target(lines, concurrency=1)  # one request at a time

    assert code == 0
    kinds = [(kind, value if kind == "state" else len(value)) for kind, value in timeline]
    # s0 has no records before it: out at once. s1 waits for the first request (records
    # 0-499) to be acknowledged; s2 and s3 wait for the last one, and only the newest is
    # worth writing then.
    assert kinds == [("state", "s0"), ("post", 500), ("state", "s1"), ("post", 205),
                     ("state", "s3")]  # fmt: skip


class SlowFirstAnswer(Recorder):
    """Answers the first request only after the second arrived: answers come out of order."""

    def __init__(self, timeline: list[tuple[str, Any]]) -> None:
        super().__init__(timeline)
        self.second = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return super().__call__(request)
        first = json.loads(request.content)["records"][0]["recordId"]
        if first == "0":
            self.second.wait(5.0)
        with self.lock:
            response = super().__call__(request)
            self.timeline.append(("answer", first))
        self.second.set()
        return response


def test_with_requests_in_flight_state_still_waits_for_every_record_before_it() -> None:
    lines = [schema("deals", ["id"]), state("s0")]
    lines += [record("deals", {"id": i}) for i in range(3)]
    lines += [state("s1")]
    lines += [record("deals", {"id": i}) for i in range(3, 703)]
    lines += [state("s2"), record("deals", {"id": 703}), record("deals", {"id": 704}), state("s3")]
    timeline: list[tuple[str, Any]] = []
    fake = SlowFirstAnswer(timeline)

    code, _, _, _ = run_target(lines, fake=fake, concurrency=4)

    assert code == 0
    events = [(kind, value) for kind, value in timeline if kind != "post"]
    # the second request is answered first; s1 still waits for the first one's answer
    assert events == [("state", "s0"), ("answer", "500"), ("answer", "0"), ("state", "s1"),
                      ("state", "s3")]  # fmt: skip


def test_after_a_rejected_record_no_state_moves_the_bookmark() -> None:
    lines = [schema("deals", ["id"]), record("deals", {"id": 1}), state("s1"),
             record("deals", {"id": 2}), state("s2")]  # fmt: skip
    code, timeline, _, log = run_target(lines, reject={"2"})
    assert code == 1
    assert [v for kind, v in timeline if kind == "state"] == []  # both wait for one request
    assert "rejected record '2' (INVALID_PAYLOAD)" in log


def test_records_map_to_entity_type_record_id_and_source_updated_at() -> None:
    lines = [
        schema("public-deals", ["region", "id"], ["updated_at"]),
        record("public-deals", {"region": "emea", "id": 7, "updated_at": "2026-06-10T16:03:00+02:00"}),
        record("public-deals", {"region": "apac", "id": 8, "updated_at": "2026-06-10T14:03:00.5"},
               "2026-11-01T00:00:00Z"),
        record("public-deals", {"region": "us", "id": 9, "updated_at": None}, "2026-11-01T10:00:00.123Z"),
        schema("my schema.notes", []),
        record("my schema.notes", {"text": "hello", "n": 1}),
        schema("contacts", ["id"], ["lsn"]),
        record("contacts", {"id": "c1", "lsn": 42, "_sdc_deleted_at": "2026-06-01T00:00:00Z"},
               "2026-06-02T00:00:00Z"),
        json.dumps({"type": "ACTIVATE_VERSION", "stream": "contacts", "version": 1}),
    ]  # fmt: skip
    before = datetime.now(UTC)
    code, _, fake, _ = run_target(lines, entity_types={"public-deals": "deal"})
    assert code == 0
    got = [
        (r["entityType"], r["recordId"], r["sourceUpdatedAt"], r.get("deleted"))
        for r in fake.records
    ]
    note = fake.records[3]["payload"]
    note_id = hashlib.sha256(
        json.dumps(note, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert got[:3] == [
        ("deal", "emea:7", "2026-06-10T14:03:00Z", None),  # replication key, to UTC
        ("deal", "apac:8", "2026-06-10T14:03:00.500000Z", None),  # naive = UTC
        ("deal", "us:9", "2026-11-01T10:00:00.123000Z", None),  # no value: time_extracted
    ]
    assert got[3][:2] == ("my_schema.notes", note_id)  # no key properties: content hash
    assert datetime.fromisoformat(got[3][2]) >= before  # no time at all: now
    assert got[4] == ("contacts", "c1", "2026-06-02T00:00:00Z", True)  # int key, tombstone
    assert fake.records[0]["payload"] == {"region": "emea", "id": 7,
                                          "updated_at": "2026-06-10T16:03:00+02:00"}  # fmt: skip


def test_batch_messages_are_refused_rather_than_dropped() -> None:
    lines = [schema("deals", ["id"]), record("deals", {"id": 1}),
             json.dumps({"type": "BATCH", "stream": "deals", "encoding": {"format": "jsonl"},
                         "manifest": ["file:///tmp/records.jsonl"]})]  # fmt: skip
    with pytest.raises(TargetError, match="BATCH messages are not supported"):
        run_target(lines)


def test_helpers() -> None:
    assert entity_type_for("public-deals", {}) == "public-deals"
    assert entity_type_for("a b/c", {}) == "a_b_c"
    assert entity_type_for("x" * 150, {}) == "x" * 100
    assert utc_rfc3339("2026-06-10") == "2026-06-10T00:00:00Z"
    assert utc_rfc3339("not a date") is None
    assert utc_rfc3339(12) is None


@pytest.mark.parametrize("value", [0, 65, "4", True, 2.5])
def test_concurrency_in_the_config_must_be_a_whole_number_1_to_64(
    tmp_path: Path, value: Any
) -> None:
    config = tmp_path / "config.json"
    base = {"base_url": "http://127.0.0.1:9", "api_key": "sk_live_x", "source_id": "s"}
    config.write_text(json.dumps({**base, "concurrency": value}))
    with pytest.raises(TargetError, match="concurrency"):
        Config.load(str(config))
    config.write_text(json.dumps({**base, "concurrency": 8}))
    assert Config.load(str(config)).concurrency == 8
    config.write_text(json.dumps(base))
    assert Config.load(str(config)).concurrency == 4


def test_bad_input_and_config_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": "http://127.0.0.1:9", "api_key": "sk_live_x"}))
    assert main(["--config", str(config)]) == 2  # no source_id
    config.write_text(json.dumps({"base_url": "http://127.0.0.1:9", "api_key": " ",
                                  "source_id": "s"}))  # fmt: skip
    monkeypatch.delenv("HEADWATER_API_KEY", raising=False)
    assert main(["--config", str(config)]) == 2  # blank key
    out = subprocess.run(
        [*TARGET, "--config", str(config)], input=record("never-declared", {"id": 1}),
        capture_output=True, text=True, env={**os.environ, "HEADWATER_API_KEY": "sk_live_x"},
        check=False,
    )  # fmt: skip
    assert out.returncode == 2


def _target_config(live: Live, path: Path, source_id: str) -> Path:
    path.write_text(json.dumps({"base_url": live.base_url, "api_key": live.token,
                                "source_id": source_id, "entity_types": {"public-deals": "deal"},
                                "wait": True}))  # fmt: skip
    return path


def _check_one_superseded_and_its_event(live: Live, source_id: str, record_id: str,
                                        new_stage: str, at: str) -> None:  # fmt: skip
    with live.client() as client:
        batches = client.batches.list(source_id=source_id, limit=100)
        superseded = sum(b.outcomes.superseded for b in batches if b.outcomes)
        assert superseded == 1
        assert all(b.status == "done" for b in batches)
        history = client.records.get(source_id, "deal", record_id)
        assert [v.outcome for v in history.versions] == ["created", "superseded"]
        assert history.head.source_updated_at == at
        changed = client.events.list(source_id=source_id, entity_id=record_id,
                                     action="deal_stage_changed")  # fmt: skip
        assert len(changed) == 1
        event = changed.items[0]
        assert event.timestamp == at
        assert event.record_version_id == history.head.version_id
        assert [(c.field, c.after) for c in event.changes] == [("stage", new_stage)]
        # the replication key (`updated_at`) changed too, but alone it is no event
        assert len(client.events.list(source_id=source_id, action="deal_updated")) == 0
        heads = client.records.list(source_id, limit=100)
        assert heads.total == 3


@pytest.mark.backends("sqlite")
def test_recorded_tap_postgres_output_through_target_headwater(live: Live, tmp_path: Path) -> None:
    """The real tap's recorded messages (see data/README.md), through the real command."""
    config = _target_config(live, tmp_path / "target.json", live.source_id)
    states = []
    for name in ("tap-postgres-sync1.singer.jsonl", "tap-postgres-sync2.singer.jsonl"):
        done = subprocess.run([*TARGET, "--config", str(config)],
                              input=(DATA / name).read_bytes(), capture_output=True,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        states.append([json.loads(line) for line in done.stdout.splitlines()])
    last = states[1][-1]["bookmarks"]["public-deals"]
    assert last["replication_key_value"] == "2026-06-11T09:00:00+00:00"
    _check_one_superseded_and_its_event(live, live.source_id, "emea:1", "won",
                                        "2026-06-11T09:00:00Z")  # fmt: skip
    with live.client() as client:
        head = client.records.get(live.source_id, "deal", "emea:2").head
        assert b'"amount": 12500.50' in client.records.payload(head.version_id)  # verbatim


# ---------------------------------------------------------------------------- the real tap


def _tap_command() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH; it runs the tap in its own environment")
    return [uv, "tool", "run", "--quiet", "--from", TAP, "tap-postgres"]


@pytest.fixture(scope="module")
def tap() -> list[str]:
    """The tap, installed from PyPI once (uv caches it) in an environment of its own."""
    command = _tap_command()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run([*command, "--help"], capture_output=True, env=env, timeout=300,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        message = f"{TAP} could not be installed or run: {done.stderr.decode()[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return command


@pytest.fixture
def tap_database() -> Iterator[dict[str, Any]]:
    """A database of its own in the test PostgreSQL, with the table the tap reads."""
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"hw_tap_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = urlparse(PG_URL)
    # the README's tap.json, pointed at this database
    config = {**json.loads((EXAMPLE / "tap.json").read_text()),
              "host": url.hostname or "127.0.0.1", "port": url.port or 5432,
              "user": url.username or "postgres", "password": url.password or "",
              "dbname": name}  # fmt: skip
    with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + name, autocommit=True) as db:
        db.execute((EXAMPLE / "deals.sql").read_text().encode())  # the README's table
    yield {"config": config, "url": PG_URL.rsplit("/", 1)[0] + "/" + name}
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _sync(tap: list[str], tap_config: Path, catalog: Path, target_config: Path,
          state: Path | None, log: Path) -> list[Any]:  # fmt: skip
    """tap | target-headwater, as a shell pipeline would run it; returns the emitted states."""
    with log.open("ab") as errors:
        producer = subprocess.Popen(
            [*tap, "--config", str(tap_config), "--catalog", str(catalog),
             *(["--state", str(state)] if state else [])],
            stdout=subprocess.PIPE, stderr=errors,
        )  # fmt: skip
        consumer = subprocess.run([*TARGET, "--config", str(target_config)], stdin=producer.stdout,
                                  capture_output=True, timeout=120, check=False)  # fmt: skip
        assert producer.stdout is not None
        producer.stdout.close()
        assert producer.wait(60) == 0, log.read_text()[-3000:]
    assert consumer.returncode == 0, consumer.stderr.decode()
    return [json.loads(line) for line in consumer.stdout.splitlines()]


@pytest.mark.backends("sqlite")
def test_a_real_tap_from_pypi_streams_into_a_source_and_an_update_supersedes_one_record(
    tap: list[str], tap_database: dict[str, Any], live: Live, tmp_path: Path
) -> None:
    """The README's example: examples/singer/{deals.sql,tap.json,catalog.json}, this
    database's name in place of `crm`; the shipped catalog matches what the tap discovers."""
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps(tap_database["config"]))
    discovered = subprocess.run([*tap, "--config", str(tap_config), "--discover"],
                                capture_output=True, timeout=120, check=False)  # fmt: skip
    assert discovered.returncode == 0, discovered.stderr.decode()[-3000:]
    (found,) = [s for s in json.loads(discovered.stdout)["streams"] if s["table_name"] == "deals"]
    catalog = json.loads((EXAMPLE / "catalog.json").read_text())
    (stream,) = catalog["streams"]
    assert stream["schema"] == found["schema"]
    assert stream["tap_stream_id"] == found["tap_stream_id"] == "public-deals"
    (top,) = [e["metadata"] for e in stream["metadata"] if e["breadcrumb"] == []]
    assert top["selected"] is True
    assert (top["replication-method"], top["replication-key"]) == ("INCREMENTAL", "updated_at")
    top["database-name"] = tap_database["config"]["dbname"]
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    target_config = _target_config(live, tmp_path / "target.json", live.source_id)
    log = tmp_path / "tap.log"

    first = _sync(tap, tap_config, catalog_path, target_config, None, log)
    assert first, "the target emitted no STATE"
    with live.client() as client:
        assert client.records.list(live.source_id).total == 3
        assert client.records.get(live.source_id, "deal", "emea:1").head.source_updated_at == (
            "2026-06-10T14:03:00Z"
        )

    with psycopg.connect(tap_database["url"], autocommit=True) as db:
        db.execute("UPDATE deals SET stage = 'won', updated_at = '2026-06-11T09:00:00Z'"
                   " WHERE region = 'emea' AND id = 1")  # fmt: skip
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(first[-1]))
    second = _sync(tap, tap_config, catalog_path, target_config, state_path, log)
    bookmark = second[-1]["bookmarks"][stream["tap_stream_id"]]
    assert bookmark["replication_key_value"].startswith("2026-06-11T09:00:00")

    _check_one_superseded_and_its_event(live, live.source_id, "emea:1", "won",
                                        "2026-06-11T09:00:00Z")  # fmt: skip
