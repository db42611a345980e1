"""Exports through the SDK and the CLI against a live server (spec §9.1), read back by
pm4py; the docs' three-line recipe runs as written."""

from __future__ import annotations

import asyncio
import gc
import io
import re
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headwater.cli import main
from headwater.client import AsyncHeadwaterClient, HeadwaterError
from tests.client.conftest import Live, deal

pm4py = pytest.importorskip("pm4py")

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")
DEALS = 300


def run(live: Live, *args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"HEADWATER_URL": live.base_url, "HEADWATER_API_KEY": live.token}
    )


def _loaded(live: Live) -> int:
    """DEALS deals created, each moved on once: returns the source's event count."""
    with live.client() as client:
        client.ingest_all(live.source_id, (deal(i) for i in range(DEALS)), wait=True)
        moved = (deal(i, "won", "2026-06-11T09:00:00Z") for i in range(DEALS))
        client.ingest_all(live.source_id, moved, wait=True)
        return client.events.list(source_id=live.source_id, limit=1).total


def test_the_sdk_streams_both_formats_to_a_path_and_to_a_file(live: Live, tmp_path: Path) -> None:
    total = _loaded(live)
    seen: list[tuple[int, int, int]] = []
    with live.client() as client:
        result = client.export.ocel(
            tmp_path / "log.json", source_id=live.source_id,
            on_progress=lambda *p: seen.append(p),
        )  # fmt: skip
        assert result.events == total and result.path == tmp_path / "log.json"
        assert result.bytes == (tmp_path / "log.json").stat().st_size
        assert not (tmp_path / "log.json.part").exists()
        assert seen[-1][:2] == (total, total) and seen[0][0] == 0
        assert [s[0] for s in seen] == sorted(s[0] for s in seen)
        buffer = io.BytesIO()
        xes = client.export.xes(buffer, source_id=live.source_id, entity_type="deal")
        assert xes.events == total and xes.path is None
    ocel = pm4py.read_ocel2_json(str(tmp_path / "log.json"))
    assert len(ocel.events) == total
    assert len(ocel.objects[ocel.objects["ocel:type"] == "deal"]) == DEALS
    (tmp_path / "log.xes").write_bytes(buffer.getvalue())
    log = pm4py.read_xes(str(tmp_path / "log.xes"))
    assert len(log) == total and log["case:concept:name"].nunique() == DEALS


def test_the_async_client_exports_too(live: Live, tmp_path: Path) -> None:
    total = _loaded(live)

    async def export() -> tuple[int, int]:
        async with AsyncHeadwaterClient(live.token, live.base_url) as client:
            ocel = await client.export.ocel(tmp_path / "a.json", source_id=live.source_id)
            xes = await client.export.xes(tmp_path / "a.xes", source_id=live.source_id)
            return ocel.events, xes.events

    assert asyncio.run(export()) == (total, total)
    assert len(pm4py.read_ocel2_json(str(tmp_path / "a.json")).events) == total
    assert len(pm4py.read_xes(str(tmp_path / "a.xes"))) == total


def test_errors_raise_and_leave_no_file(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "never.json"
    with live.client() as client:
        with pytest.raises(HeadwaterError) as missing:
            client.export.ocel(target, source_id="00000000-0000-4000-8000-000000000000")
        assert missing.value.code == "NOT_FOUND"
        with pytest.raises(HeadwaterError) as bad:
            client.export.xes(target, time_from="not a time")
        assert bad.value.code == "VALIDATION_ERROR"
    assert not target.exists() and not (tmp_path / "never.json.part").exists()


def test_the_cli_writes_a_log_with_progress(live: Live, tmp_path: Path) -> None:
    total = _loaded(live)
    out = tmp_path / "deals.xes"
    result = run(live, "export", "xes", "--out", str(out), "--source", live.source_id,
                 "--entity-type", "deal", "--from", "2026-06-01T00:00:00Z")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{total:,} events" in result.stdout
    progress = re.findall(r"^deals\.xes: ([\d,]+) events, (\d+)%$", result.stderr, re.M)
    assert progress[-1] == (f"{total:,}", "100")
    assert len(pm4py.read_xes(str(out))) == total

    ocel = run(live, "export", "ocel", "--out", str(tmp_path / "all.json"), "--no-progress",
               "--source", live.source_id, "--include-deleted")  # fmt: skip
    assert ocel.exit_code == 0, ocel.output
    assert ocel.stderr == ""
    assert len(pm4py.read_ocel2_json(str(tmp_path / "all.json")).events) == total

    wrong = run(live, "export", "ocel", "--out", str(tmp_path / "x.json"), "--source", "nope")
    assert wrong.exit_code == 2 and "sourceId" in wrong.stderr
    assert not (tmp_path / "x.json").exists()
    usage = run(live, "export", "csv", "--out", str(tmp_path / "x.csv"))
    assert usage.exit_code == 2


def test_the_documented_recipe_runs(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/EXPORTS.md: from Headwater to pm4py in three lines, run as written."""
    total = _loaded(live)
    text = (Path(__file__).parents[2] / "docs" / "EXPORTS.md").read_text()
    recipe = text.split("## Into pm4py in three lines", 1)[1].split("```python\n", 1)[1]
    code = recipe.split("```", 1)[0]
    lines = [line for line in code.splitlines() if line and not line.startswith(("import", "from"))]
    assert len(lines) == 3
    monkeypatch.setenv("HEADWATER_URL", live.base_url)
    monkeypatch.setenv("HEADWATER_API_KEY", live.token)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    # the recipe leaves its client to the garbage collector, as a short script may
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        exec(compile(code, "EXPORTS.md", "exec"), namespace)
        gc.collect()
    ocel = namespace["ocel"]
    assert len(ocel.events) >= total  # type: ignore[attr-defined]
