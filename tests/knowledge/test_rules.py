"""Spec §10.2: rules from a discovery run, their review and provenance, through HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import assert_error, bearer
from tests.knowledge.deals import JANE, load_deals
from tests.normalize.helpers import create_source, get, ok

MISSING = "00000000-0000-8000-8000-000000000000"


def discover(client: TestClient, token: str, normalize_all: Callable[[], int],
             body: Any = None) -> str:  # fmt: skip
    response = client.post("/v1/knowledge/discover", json=body, headers=bearer(token))
    library_id = str(ok(response, 202)["libraryId"])
    normalize_all()
    return library_id


def all_rules(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/rules", params={"limit": 100, **params}, headers=bearer(token))
    return list(ok(response))


def rule_where(rules: list[dict[str, Any]], text: str) -> dict[str, Any]:
    (found,) = [r for r in rules if r["description"].startswith(text)]
    return found


def setup_deals(client: TestClient, token: str, normalize_all: Callable[[], int]) -> dict[str, str]:
    source = create_source(client, token)
    sent = load_deals(client, token, source)
    normalize_all()
    return sent


def test_a_run_writes_the_four_kinds_of_rules(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    assert all_rules(client, token) == []  # no library yet
    library = discover(client, token, normalize_all)
    rules = all_rules(client, token)
    assert get(client, token, f"/v1/knowledge/libraries/{library}")["rules"] == len(rules)
    assert {r["type"] for r in rules} == {"precedence", "transition", "duration", "actor"}

    precedence = rule_where(rules, "closed_won is reached only after negotiation")
    assert precedence["description"].endswith("(6 of 6 deals)")
    assert (precedence["confidence"], precedence["frequency"]) == (1.0, 6)
    assert precedence["processId"] == "deal-lifecycle"
    assert precedence["appliesAtStep"] == "closed_won"
    assert precedence["reviewStatus"] == "inferred"
    detail = get(client, token, f"/v1/rules/{precedence['id']}")
    assert detail["condition"] == {
        "kind": "deterministic", "type": "precedence", "before": "negotiation",
        "after": "closed_won"}  # fmt: skip
    assert detail["evidence"]["cases"] == 6 and detail["evidence"]["counterExamples"] == 0
    assert len(detail["evidence"]["exampleEventIds"]) == 6
    assert detail["libraryId"] == library and detail["inferenceLogId"] == library
    events = {e["id"]: e for e in get(client, token, "/v1/events", limit=100)}
    for event_id in detail["evidence"]["exampleEventIds"]:
        assert events[event_id]["action"] == "deal_stage_changed"

    actor = rule_where(rules, f"closed_won is set by {JANE}")
    assert actor["description"] == f"closed_won is set by {JANE} in 83% of entries (5 of 6)"
    assert abs(actor["confidence"] - 5 / 6) < 1e-12
    actor_detail = get(client, token, f"/v1/rules/{actor['id']}")
    assert actor_detail["condition"]["actor"] == JANE
    assert len(actor_detail["evidence"]["counterExampleEventIds"]) == 1

    transition = rule_where(rules, "after negotiation, deals move to closed_won")
    assert transition["confidence"] == 1.0
    # qualified -> negotiation holds in 6 of 8: under minConfidence 0.8
    assert not [r for r in rules if r["description"].startswith("after qualified, deals move")]
    duration = rule_where(rules, "negotiation → closed_won takes a median of")
    duration_detail = get(client, token, f"/v1/rules/{duration['id']}")
    assert duration_detail["condition"]["medianSeconds"] == 4 * 86400
    assert duration_detail["condition"]["p90Seconds"] == 7 * 86400
    assert duration["description"].startswith(
        "negotiation → closed_won takes a median of 4 days (p90 7 days"
    )

    # lower thresholds find more, with the same ids for the same rules
    discover(client, token, normalize_all, {"minSupport": 2, "minConfidence": 0.5})
    more = all_rules(client, token)
    assert len(more) > len(rules)
    assert (
        rule_where(more, "closed_won is reached only after negotiation")["id"] == precedence["id"]
    )
    assert rule_where(more, "after qualified, deals move to negotiation")["confidence"] == 0.75
    # the older library still answers by id
    older = all_rules(client, token, libraryId=library)
    assert {r["id"] for r in older} == {r["id"] for r in rules}


def test_filters_and_pagination(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    discover(client, token, normalize_all)
    rules = all_rules(client, token)
    response = client.get("/v1/rules", params={"limit": 2, "offset": 1}, headers=bearer(token))
    page = ok(response)
    assert response.json()["meta"]["pagination"] == {"total": len(rules), "limit": 2, "offset": 1}
    assert page == rules[1:3]
    confidences = [r["confidence"] for r in rules]
    assert confidences == sorted(confidences, reverse=True)
    found = all_rules(client, token, search="CLOSED_WON IS SET")
    assert [r["type"] for r in found] == ["actor"]
    assert all_rules(client, token, search="n%o") == []  # LIKE wildcards are literal
    assert all("_won is" in r["description"] for r in all_rules(client, token, search="_won is"))
    assert len(all_rules(client, token, processId="deal-lifecycle")) == len(rules)
    assert all_rules(client, token, processId="ticket-lifecycle") == []
    assert all_rules(client, token, reviewStatus="confirmed") == []
    assert len(all_rules(client, token, reviewStatus="inferred")) == len(rules)
    for params in (
        {"reviewStatus": "bogus"},
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"libraryId": "nope"},
        {"search": ""},
        {"processId": " "},
    ):
        response = client.get("/v1/rules", params=params, headers=bearer(token))
        assert_error(response, 400, "VALIDATION_ERROR")
        assert response.json()["error"]["details"][0]["field"] == next(iter(params))
    assert_error(
        client.get("/v1/rules", params={"libraryId": MISSING}, headers=bearer(token)),
        404,
        "NOT_FOUND",
    )
    for path in (f"/v1/rules/{MISSING}", "/v1/rules/nope", f"/v1/rules/{MISSING}/provenance"):
        assert_error(client.get(path, headers=bearer(token)), 404, "NOT_FOUND")


def patch(client: TestClient, token: str, rule_id: str, body: Any, **headers: str) -> Any:
    return client.patch(f"/v1/rules/{rule_id}", json=body, headers={**bearer(token), **headers})


def test_reviews_carry_over_to_later_runs(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    setup_deals(client, token, normalize_all)
    discover(client, token, normalize_all)
    rules = all_rules(client, token)
    precedence = rule_where(rules, "closed_won is reached only after negotiation")
    actor = rule_where(rules, "closed_won is set by")

    first = patch(client, token, precedence["id"], {"reviewStatus": "confirmed"},
                  **{"Idempotency-Key": "review-1"})  # fmt: skip
    again = patch(client, token, precedence["id"], {"reviewStatus": "confirmed"},
                  **{"Idempotency-Key": "review-1"})  # fmt: skip
    assert ok(first)["reviewStatus"] == "confirmed" and ok(first) == ok(again)
    assert again.headers["idempotent-replayed"] == "true"
    assert_error(
        patch(client, token, precedence["id"], {"reviewStatus": "rejected"},
              **{"Idempotency-Key": "review-1"}), 422, "IDEMPOTENCY_KEY_REUSED")  # fmt: skip
    text = "Deals close only after a negotiation, and Jane closes most of them"
    modified = ok(patch(client, token, actor["id"], {"description": text}))
    assert (modified["reviewStatus"], modified["description"]) == ("modified", text)
    assert all_rules(client, token, reviewStatus="modified")[0]["id"] == actor["id"]

    discover(client, token, normalize_all)  # a later run finds the same rules again
    later = {r["id"]: r for r in all_rules(client, token)}
    assert later[precedence["id"]]["reviewStatus"] == "confirmed"
    assert later[actor["id"]]["description"] == text
    assert later[actor["id"]]["createdAt"] == actor["createdAt"]  # first found then
    detail = get(client, token, f"/v1/rules/{actor['id']}")
    assert detail["updatedAt"] >= detail["createdAt"]
    # confirming keeps the text a person wrote; `inferred` withdraws the review
    assert (
        ok(patch(client, token, actor["id"], {"reviewStatus": "confirmed"}))["description"] == text
    )
    reset = ok(patch(client, token, actor["id"], {"reviewStatus": "inferred"}))
    assert reset["reviewStatus"] == "inferred" and reset["description"] == actor["description"]
    rejected = ok(patch(client, token, precedence["id"], {"reviewStatus": "rejected"}))
    assert rejected["reviewStatus"] == "rejected"

    for body, field in (
        ({}, "body"),
        ({"reviewStatus": "modified"}, "description"),
        ({"reviewStatus": "confirmed", "description": "x"}, "reviewStatus"),
        ({"description": "  "}, "description"),
        ({"reviewStatus": "great"}, "reviewStatus"),
        ({"bogus": 1}, "bogus"),
    ):
        response = patch(client, token, actor["id"], body)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in response.json()["error"]["details"][0]["field"], body
    not_json = client.patch(
        f"/v1/rules/{actor['id']}", content=b"x",
        headers={**bearer(token), "Content-Type": "text/plain"})  # fmt: skip
    assert_error(not_json, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(patch(client, token, MISSING, {"reviewStatus": "confirmed"}), 404, "NOT_FOUND")


def test_provenance_walks_down_to_the_bytes_that_were_sent(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    sent = setup_deals(client, token, normalize_all)
    library = discover(client, token, normalize_all)
    actor = rule_where(all_rules(client, token), "closed_won is set by")
    trail = get(client, token, f"/v1/rules/{actor['id']}/provenance")
    assert trail["rule"] == {"id": actor["id"], "description": actor["description"],
                             "processId": "deal-lifecycle"}  # fmt: skip
    log = trail["inferenceLog"]
    run = get(client, token, f"/v1/knowledge/libraries/{library}")
    assert log["id"] == library and log["model"] == "headwater-discovery-v1"
    assert len(log["promptHash"]) == 64
    assert log["tokenCount"] == {"input": run["eventsRead"], "output": run["rules"],
                                 "total": run["eventsRead"] + run["rules"]}  # fmt: skip
    assert [e["role"] for e in trail["sourceEvents"]] == ["example"] * 5 + ["counterExample"]
    assert trail["sourceEventsTotal"] == 6
    for event in trail["sourceEvents"]:
        assert (event["action"], event["entityType"]) == ("deal_stage_changed", "deal")
    versions = {e["recordVersionId"] for e in trail["sourceEvents"]}
    assert {r["id"] for r in trail["rawRecords"]} == versions
    for raw in trail["rawRecords"]:
        assert raw["connectorType"] == "custom_api"
        payload = client.get(f"/v1/records/versions/{raw['id']}/payload", headers=bearer(token))
        assert payload.status_code == 200
        assert payload.content == sent[raw["id"]].encode()
    assert [s["name"] for s in trail["sources"]] == ["CRM"]
