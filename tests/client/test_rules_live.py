"""Rules and knowledge through the SDK (sync and async) and `headwater rules` against a
live server whose embedded worker normalizes and runs discovery."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.client import AsyncHeadwaterClient, HeadwaterClient, HeadwaterError
from tests.client.conftest import Live
from tests.knowledge.deals import JANE, load_deals

pytestmark = pytest.mark.xdist_group("client")


def _wait_for(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_rules_through_the_sdk_and_the_cli(live: Live) -> None:
    token = live.server.create_key(org=f"rules-{uuid.uuid4().hex[:8]}")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with (
        HeadwaterClient(token, live.base_url) as client,
        httpx.Client(base_url=live.base_url, headers=headers, timeout=30) as http,
    ):
        source = client.sources.create("CRM")
        sent = load_deals(http, token, source.id)  # type: ignore[arg-type]
        for batch in client.batches.list(source_id=source.id, limit=100).items:
            client.batches.wait(batch.batch_id, timeout=60)
        ack = client.knowledge.discover(min_support=5)
        assert ack.status == "queued"
        library = f"/v1/knowledge/libraries/{ack.library_id}"
        _wait_for(lambda: http.get(library).json()["data"]["status"] == "done")

        page = client.rules.list(limit=100)
        assert page.total == len(page.items) == http.get(library).json()["data"]["rules"]
        summary = next(r for r in page.items if r.description.startswith("closed_won is set by"))
        rule = client.rules.get(summary.id)
        assert rule.condition["actor"] == JANE and rule.evidence is not None
        assert (rule.evidence.support, rule.evidence.cases) == (5, 6)
        assert rule.library_id == ack.library_id == rule.inference_log_id
        trail = client.rules.provenance(rule.id)
        assert trail.inference_log.id == ack.library_id and len(trail.source_events) == 6
        for raw in trail.raw_records:
            assert client.records.payload(raw.id) == sent[raw.id].encode()
        assert [s.name for s in trail.sources] == ["CRM"]
        reviewed = client.rules.review(rule.id, status="confirmed")
        assert reviewed.review_status == "confirmed"
        assert client.rules.list(review_status="confirmed").total == 1

        answer = client.knowledge.query("who sets closed won", explain=True)
        assert answer.results[0].rule_id == rule.id and answer.strategy == "hybrid"
        assert answer.explain is not None and answer.explain["vectorCandidates"] == 0
        assert answer.total is not None and answer.total >= len(answer.results)
        memory = client.knowledge.memory("Negotiation needs a signed NDA")
        taught = client.knowledge.get_memory(memory.memory_id)
        assert (taught.process_id, taught.step) == ("deal-lifecycle", "negotiation")
        with pytest.raises(HeadwaterError) as missing:
            client.rules.get(str(uuid.uuid4()))
        assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")

    async def scenario() -> tuple[Any, ...]:
        async with AsyncHeadwaterClient(token, live.base_url) as aclient:
            listed = await aclient.rules.list(search="is set by", limit=100)
            one = await aclient.rules.get(rule.id)
            chain = await aclient.rules.provenance(rule.id)
            found = await aclient.knowledge.query("NDA")
            noted = await aclient.knowledge.memory("Closed deals are invoiced monthly")
            back = await aclient.knowledge.get_memory(noted.memory_id)
            again = await aclient.rules.review(rule.id, status="rejected")
            return listed, one, chain, found, back, again

    listed, one, chain, found, back, again = asyncio.run(scenario())
    assert rule.id in {r.id for r in listed.items}
    assert one.review_status == "confirmed" and chain.rule.id == rule.id
    assert found.results[0].rule_id == memory.memory_id
    assert back.text == "Closed deals are invoiced monthly" and again.review_status == "rejected"

    base = ["rules", "--base-url", live.base_url, "--api-key", token]
    table = CliRunner().invoke(main, [*base, "--limit", "100"])
    assert table.exit_code == 0, table.output
    assert rule.id in table.output and "CONF" in table.output
    assert f"of {page.total + 2} rules" in table.output  # and the two memories
    shown = CliRunner().invoke(main, [*base, "show", rule.id])
    assert shown.exit_code == 0, shown.output
    assert "provenance" in shown.output and "4 sources   CRM" in shown.output
    assert all(raw.id in shown.output for raw in trail.raw_records)
    bad = CliRunner().invoke(main, [*base, "show", str(uuid.uuid4())])
    assert bad.exit_code == 2 and "NOT_FOUND" in bad.output
