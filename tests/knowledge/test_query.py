"""Spec §10.3: the knowledge query and memories, and who may see and change rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import assert_error, bearer
from tests.knowledge.test_rules import MISSING, all_rules, discover, rule_where, setup_deals
from tests.normalize.helpers import get, ok


def query(client: TestClient, token: str, **params: Any) -> tuple[Any, dict[str, Any]]:
    response = client.get("/v1/knowledge/query", params=params, headers=bearer(token))
    data = ok(response)
    return data, response.json()["meta"]


def remember(client: TestClient, token: str, body: Any, **headers: str) -> Any:
    return client.post("/v1/knowledge/memory", json=body, headers={**bearer(token), **headers})


def test_full_text_and_structured_matches(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    data, meta = query(client, token, q="anything")
    assert data == {"results": []} and meta["total"] == 0  # no library yet
    discover(client, token, normalize_all)
    rules = all_rules(client, token)

    data, meta = query(client, token, q="who sets closed won", include="explain")
    results = data["results"]
    assert meta["strategy"] == "hybrid" and meta["requestId"]
    assert results[0]["description"].startswith("closed_won is set by")
    assert results[0]["step"] == "closed_won" and results[0]["processId"] == "deal-lifecycle"
    assert results[0]["processName"] == "deal lifecycle"
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and len(results) > 3
    explain = data["explain"]
    assert explain["terms"] == ["sets", "closed", "won"]  # "who" is a stop word
    assert explain["textMatch"] == "any"  # one rule has all three words: too few
    assert explain["stepMatches"] == [{"processId": "deal-lifecycle", "step": "closed_won"}]
    assert explain["processMatches"] == ["deal-lifecycle"]
    assert explain["textCandidates"] > 0 and explain["structuredCandidates"] > 0
    assert explain["returned"] == len(results) == min(10, explain["merged"])
    assert (explain["vectorCandidates"], explain["rerankerUsed"], explain["reranked"]) == (
        0, False, 0)  # fmt: skip
    assert meta["total"] >= explain["merged"]

    # enough rules with every word: those only
    every, meta = query(client, token, q="negotiation closed won", topK=2, include="explain")
    assert every["explain"]["textMatch"] == "all" and every["explain"]["textCandidates"] == 3
    assert meta["total"] >= 3 and len(every["results"]) == 2

    # stemming: "moves" finds "move"; a word no rule has finds nothing by text
    moved, _ = query(client, token, q="moves", topK=50)
    assert {r["ruleId"] for r in moved["results"]} == {
        r["id"] for r in rules if " move to " in r["description"]}  # fmt: skip
    nothing, meta = query(client, token, q="zebra", include="explain")
    assert nothing["results"] == [] and meta["total"] == 0
    assert nothing["explain"]["textCandidates"] == 0

    structured, meta = query(client, token, q="negotiation", strategy="structured", topK=50)
    assert meta["strategy"] == "structured"
    at_step = [r for r in rules if r["appliesAtStep"] == "negotiation"]
    assert {r["ruleId"] for r in structured["results"]} == {r["id"] for r in at_step}
    assert "explain" not in structured
    # punctuation and operators are words or nothing, never syntax
    for text in ('"closed', "NEAR(a b)", "a AND OR NOT", "won*", "!:&|'"):
        query(client, token, q=text)

    for params in (
        {},
        {"q": ""},
        {"q": "x" * 501},
        {"q": "won", "topK": 0},
        {"q": "won", "topK": 51},
        {"q": "won", "topK": "ten"},
        {"q": "won", "strategy": "vector"},
        {"q": "won", "include": "everything"},
        {"q": "won", "libraryId": "nope"},
    ):
        response = client.get("/v1/knowledge/query", params=params, headers=bearer(token))
        assert_error(response, 400, "VALIDATION_ERROR")
    response = client.get(
        "/v1/knowledge/query", params={"q": "won", "libraryId": MISSING}, headers=bearer(token)
    )
    assert_error(response, 404, "NOT_FOUND")


def test_rejected_rules_are_not_searched_and_edits_are(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    discover(client, token, normalize_all)
    actor = rule_where(all_rules(client, token), "closed_won is set by")
    headers = bearer(token)
    client.patch(f"/v1/rules/{actor['id']}", json={"description": "Jane owns the closing"},
                 headers=headers)  # fmt: skip
    found, _ = query(client, token, q="owns closing", strategy="hybrid")
    assert found["results"][0]["ruleId"] == actor["id"]
    client.patch(f"/v1/rules/{actor['id']}", json={"reviewStatus": "rejected"}, headers=headers)
    found, _ = query(client, token, q="owns closing")
    assert actor["id"] not in {r["ruleId"] for r in found["results"]}


def test_memories_are_human_rules_that_search_finds(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    text = "Deals in negotiation need a signed NDA before pricing is shared"
    early = ok(remember(client, token, {"text": "Renewals are handled by the account team"}), 202)
    assert early["status"] == "done"
    discover(client, token, normalize_all)

    response = remember(client, token, {"text": f"  {text} "}, **{"Idempotency-Key": "m-1"})
    ack = ok(response, 202)
    assert (ack["status"], ack["text"]) == ("done", text) and ack["createdAt"]
    replay = remember(client, token, {"text": f"  {text} "}, **{"Idempotency-Key": "m-1"})
    assert ok(replay, 202) == ack and replay.headers["idempotent-replayed"] == "true"

    memory = get(client, token, f"/v1/knowledge/memory/{ack['memoryId']}")
    assert memory["text"] == text and memory["memoryId"] == ack["memoryId"]
    assert (memory["assertionsCreated"], memory["assertionsSuperseded"]) == (1, 0)
    assert (memory["processId"], memory["step"]) == ("deal-lifecycle", "negotiation")
    assert "human-asserted rule" in memory["summary"] and "No language model" in memory["summary"]
    loose = get(client, token, f"/v1/knowledge/memory/{early['memoryId']}")
    assert loose["processId"] is None and "no process" in loose["summary"]

    rule = get(client, token, f"/v1/rules/{ack['memoryId']}")
    assert rule["condition"]["kind"] == "human" and rule["reviewStatus"] == "confirmed"
    assert rule["type"] == "memory" and rule["libraryId"] is None
    assert (rule["confidence"], rule["frequency"]) == (1.0, 0)
    listed = all_rules(client, token, reviewStatus="confirmed")
    assert {r["id"] for r in listed} == {ack["memoryId"], early["memoryId"]}
    found, _ = query(client, token, q="signed NDA")
    assert found["results"][0]["ruleId"] == ack["memoryId"]
    assert found["results"][0]["processName"] == "deal lifecycle"
    trail = get(client, token, f"/v1/rules/{ack['memoryId']}/provenance")
    assert trail["inferenceLog"]["model"] == "human"
    assert trail["sourceEvents"] == [] and trail["rawRecords"] == []
    keys = get(client, token, "/v1/keys")
    assert trail["taughtBy"]["keyId"] == keys[0]["id"]
    assert trail["taughtBy"]["prefix"] == keys[0]["prefix"]

    # memories outlive runs; a memory cannot be "inferred"
    discover(client, token, normalize_all)
    assert len(all_rules(client, token, reviewStatus="confirmed")) == 2
    response = client.patch(f"/v1/rules/{ack['memoryId']}", json={"reviewStatus": "inferred"},
                            headers=bearer(token))  # fmt: skip
    assert_error(response, 400, "VALIDATION_ERROR")

    for body in ({}, {"text": "  "}, {"text": 3}, {"text": "x" * 2001}, {"text": "a", "x": 1},
                 {"text": "a", "libraryId": "nope"}, []):  # fmt: skip
        assert_error(remember(client, token, body), 400, "VALIDATION_ERROR")
    assert_error(remember(client, token, {"text": "a", "libraryId": MISSING}), 404, "NOT_FOUND")
    for path in (f"/v1/knowledge/memory/{MISSING}", "/v1/knowledge/memory/nope"):
        assert_error(client.get(path, headers=bearer(token)), 404, "NOT_FOUND")
    a_rule = rule_where(all_rules(client, token), "closed_won is set by")["id"]
    assert_error(client.get(f"/v1/knowledge/memory/{a_rule}", headers=bearer(token)), 404,
                 "NOT_FOUND")  # fmt: skip


def test_another_organisation_sees_none_of_it(
    client: TestClient, make_key: Callable[..., str], normalize_all: Callable[[], int]
) -> None:
    a, b = make_key(org="org-a"), make_key(org="org-b")
    setup_deals(client, a, normalize_all)
    library = discover(client, a, normalize_all)
    memory = ok(remember(client, a, {"text": "negotiation needs an NDA"}), 202)["memoryId"]
    rule = rule_where(all_rules(client, a), "closed_won is set by")["id"]
    # b has the same kind of data: the same conditions, but its own rule ids
    setup_deals(client, b, normalize_all)
    discover(client, b, normalize_all)
    b_rules = all_rules(client, b)
    assert rule not in {r["id"] for r in b_rules}
    assert len(b_rules) == len(all_rules(client, a)) - 1  # a's memory is a's
    found, _ = query(client, b, q="NDA negotiation")
    assert memory not in {r["ruleId"] for r in found["results"]}

    for path in (
        f"/v1/rules/{rule}",
        f"/v1/rules/{rule}/provenance",
        f"/v1/rules/{memory}",
        f"/v1/knowledge/memory/{memory}",
        f"/v1/rules?libraryId={library}",
        f"/v1/knowledge/query?q=won&libraryId={library}",
    ):
        assert_error(client.get(path, headers=bearer(b)), 404, "NOT_FOUND")
    response = client.patch(f"/v1/rules/{rule}", json={"reviewStatus": "rejected"},
                            headers=bearer(b))  # fmt: skip
    assert_error(response, 404, "NOT_FOUND")
    assert_error(remember(client, b, {"text": "x", "libraryId": library}), 404, "NOT_FOUND")
    assert get(client, a, f"/v1/rules/{rule}")["reviewStatus"] == "inferred"


def test_scopes(
    client: TestClient, make_key: Callable[..., str], normalize_all: Callable[[], int]
) -> None:
    admin = make_key()
    setup_deals(client, admin, normalize_all)
    discover(client, admin, normalize_all)
    rule = all_rules(client, admin)[0]["id"]
    memory = ok(remember(client, admin, {"text": "x"}), 202)["memoryId"]
    reader, writer = make_key(scopes="read"), make_key(scopes="ingest")
    ingest_read = make_key(scopes="ingest,read")
    for path in (
        "/v1/rules",
        f"/v1/rules/{rule}",
        f"/v1/rules/{rule}/provenance",
        "/v1/knowledge/query?q=won",
        f"/v1/knowledge/memory/{memory}",
    ):
        assert_error(client.get(path, headers=bearer(writer)), 403, "INSUFFICIENT_SCOPE")
        assert_error(client.get(path), 401, "MISSING_AUTH_HEADER")
        ok(client.get(path, headers=bearer(reader)))
    for token in (reader, ingest_read):
        response = client.patch(f"/v1/rules/{rule}", json={"reviewStatus": "confirmed"},
                                headers=bearer(token))  # fmt: skip
        assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert_error(remember(client, reader, {"text": "x"}), 403, "INSUFFICIENT_SCOPE")
    ok(remember(client, writer, {"text": "y"}), 202)
