"""Spec §6.5: deterministic identity resolution, placeholders that merge, no guessing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.normalize.helpers import all_events, follow_feed, get, ingest, rec

T1, T2, T3, T4 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 5))
JANE = {"name": "Jane Smith", "email": "jane.smith@acme.com"}


def _created(client: TestClient, token: str, record_id: str) -> dict[str, Any]:
    (event,) = [
        e
        for e in all_events(client, token, action="deal_created")
        if e["entity"]["id"] == record_id
    ]
    return event


def _actors(client: TestClient, token: str) -> list[dict[str, Any]]:
    return list(get(client, token, "/v1/actors", limit=100))


def _aliases(actor: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["kind"], a["value"]) for a in actor["aliases"]}


def test_a_bare_name_then_name_with_email_end_as_one_canonical_actor(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", {"name": "A", "createdBy": "Jane Smith"}, T1)])
    normalize_all()
    placeholder = _created(client, token, "deal-1")["actor"]
    assert placeholder["placeholder"] is True
    assert (placeholder["name"], placeholder["email"]) == ("Jane Smith", None)

    ingest(client, token, source_id, [rec("deal-2", {"name": "B", "createdBy": JANE}, T2)])
    normalize_all()

    actors = _actors(client, token)
    assert len(actors) == 1, actors  # the placeholder is merged, not listed
    jane = actors[0]
    assert jane["placeholder"] is False
    assert (jane["email"], jane["name"]) == ("jane.smith@acme.com", "Jane Smith")
    assert jane["id"] != placeholder["id"]
    assert _aliases(jane) >= {("name", "Jane Smith"), ("email", "jane.smith@acme.com")}

    # the earlier event now points at the canonical actor, in every read
    for record_id in ("deal-1", "deal-2"):
        event = _created(client, token, record_id)
        assert event["actor"] == {
            "id": jane["id"],
            "email": "jane.smith@acme.com",
            "name": "Jane Smith",
            "placeholder": False,
        }
        assert get(client, token, f"/v1/events/{event['id']}")["actor"]["id"] == jane["id"]
    assert {e["entity"]["id"] for e in all_events(client, token, actorId=jane["id"])} == {
        "deal-1",
        "deal-2",
    }
    # the placeholder's id answers with the canonical actor
    merged = get(client, token, f"/v1/actors/{placeholder['id']}")
    assert merged["id"] == jane["id"]
    assert merged["placeholder"] is False
    assert get(client, token, f"/v1/actors/{jane['id']}") == merged
    # and filters events like the canonical id, in the offset listing and in the feed
    by_old = all_events(client, token, actorId=placeholder["id"])
    assert by_old == all_events(client, token, actorId=jane["id"])
    assert {e["entity"]["id"] for e in by_old} == {"deal-1", "deal-2"}
    feed, _ = follow_feed(client, token, actorId=placeholder["id"])
    assert {e["entity"]["id"] for e in feed} == {"deal-1", "deal-2"}
    # an actor id that does not exist (or is another organisation's) matches nothing
    assert all_events(client, token, actorId="00000000-0000-4000-8000-000000000000") == []

    # later mentions, by name (case and spacing folded) or by email (any case), find her
    ingest(
        client,
        token,
        source_id,
        [
            rec("deal-3", {"createdBy": "  jane   SMITH "}, T3),
            rec("deal-4", {"createdBy": "Jane.Smith@ACME.com"}, T3),
            rec("deal-5", {"createdBy": {"email": "JANE.SMITH@acme.com"}}, T4),
        ],
    )
    normalize_all()
    for record_id in ("deal-3", "deal-4", "deal-5"):
        assert _created(client, token, record_id)["actor"]["id"] == jane["id"], record_id
    assert len(_actors(client, token)) == 1


def test_a_merge_within_one_batch_is_followed(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    records = [
        rec("deal-1", {"createdBy": "Jane Smith"}, T1),
        rec("deal-2", {"createdBy": JANE}, T2),
    ]
    ingest(client, token, source_id, records)
    normalize_all()
    (jane,) = _actors(client, token)
    assert jane["placeholder"] is False
    assert _created(client, token, "deal-1")["actor"]["id"] == jane["id"]
    assert _created(client, token, "deal-2")["actor"]["id"] == jane["id"]


def test_a_known_person_named_by_name_alone_is_found(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", {"createdBy": JANE}, T1)])
    normalize_all()
    ingest(client, token, source_id, [rec("deal-2", {"createdBy": "jane smith"}, T2)])
    normalize_all()
    (jane,) = _actors(client, token)
    assert _created(client, token, "deal-2")["actor"]["id"] == jane["id"]


def test_an_email_first_then_a_name_learns_the_name_and_merges(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(
        client,
        token,
        source_id,
        [
            rec("deal-1", {"createdBy": "jane.smith@acme.com"}, T1),
            rec("deal-2", {"createdBy": "Jane Smith"}, T1),
        ],
    )
    normalize_all()
    assert len(_actors(client, token)) == 2  # nothing yet says they are the same person
    ingest(client, token, source_id, [rec("deal-3", {"createdBy": JANE}, T2)])
    normalize_all()
    (jane,) = _actors(client, token)
    assert (jane["name"], jane["email"], jane["placeholder"]) == (
        "Jane Smith",
        "jane.smith@acme.com",
        False,
    )
    for record_id in ("deal-1", "deal-2", "deal-3"):
        assert _created(client, token, record_id)["actor"]["id"] == jane["id"]


def test_two_people_with_the_same_name_are_never_merged(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    one = {"name": "Alex Kim", "email": "alex@one.com"}
    two = {"name": "Alex Kim", "email": "alex@two.com"}
    ingest(client, token, source_id, [rec("deal-1", {"createdBy": one}, T1)])
    ingest(client, token, source_id, [rec("deal-2", {"createdBy": two}, T2)])
    normalize_all()
    actors = _actors(client, token)
    assert sorted(a["email"] for a in actors) == ["alex@one.com", "alex@two.com"]
    assert {a["placeholder"] for a in actors} == {False}
    first, second = (_created(client, token, r)["actor"] for r in ("deal-1", "deal-2"))
    assert first["id"] != second["id"]
    assert (first["email"], second["email"]) == ("alex@one.com", "alex@two.com")


def test_different_emails_are_different_people(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(
        client,
        token,
        source_id,
        [
            rec("deal-1", {"createdBy": "sam@one.com"}, T1),
            rec("deal-2", {"createdBy": "sam@two.com"}, T1),
            rec("deal-3", {"createdBy": {"name": "Sam", "email": "sam@one.com"}}, T2),
            rec("deal-4", {"createdBy": {"name": "Sam", "email": "sam@two.com"}}, T3),
        ],
    )
    normalize_all()
    actors = _actors(client, token)
    assert sorted(a["email"] for a in actors) == ["sam@one.com", "sam@two.com"]
    ids = {r: _created(client, token, r)["actor"]["id"] for r in ("deal-1", "deal-2", "deal-3")}
    assert ids["deal-1"] == ids["deal-3"]
    assert ids["deal-1"] != ids["deal-2"]
    assert _created(client, token, "deal-4")["actor"]["id"] == ids["deal-2"]


def test_a_bare_name_shared_by_two_real_actors_is_not_guessed(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    one = {"name": "Alex Kim", "email": "alex@one.com"}
    two = {"name": "Alex Kim", "email": "alex@two.com"}
    ingest(
        client,
        token,
        source_id,
        [rec("deal-1", {"createdBy": one}, T1), rec("deal-2", {"createdBy": two}, T1)],
    )
    normalize_all()
    real_ids = {a["id"] for a in _actors(client, token)}
    assert len(real_ids) == 2

    ingest(client, token, source_id, [rec("deal-3", {"createdBy": "Alex Kim"}, T2)])
    normalize_all()
    ambiguous = _created(client, token, "deal-3")["actor"]
    assert ambiguous["id"] not in real_ids
    assert ambiguous["placeholder"] is True
    assert ambiguous["name"] == "Alex Kim"

    # one of the two showing up again with name and email is no reason to pick them
    ingest(client, token, source_id, [rec("deal-4", {"createdBy": one}, T3)])
    normalize_all()
    still = _created(client, token, "deal-3")["actor"]
    assert still["id"] == ambiguous["id"]
    assert still["placeholder"] is True
    assert get(client, token, f"/v1/actors/{ambiguous['id']}")["placeholder"] is True


def test_actors_are_per_organisation(
    client: TestClient,
    make_key: Callable[..., str],
    normalize_all: Callable[[], int],
) -> None:
    tokens = {org: make_key(org) for org in ("acme", "globex")}
    for org, token in tokens.items():
        source = client.post(
            "/v1/sources", json={"name": org}, headers={"Authorization": f"Bearer {token}"}
        ).json()["data"]["id"]
        ingest(client, token, source, [rec("deal-1", {"createdBy": JANE}, T1)])
    normalize_all()
    acme, globex = (_actors(client, tokens[o]) for o in ("acme", "globex"))
    assert len(acme) == len(globex) == 1
    assert acme[0]["id"] != globex[0]["id"]
    assert acme[0]["email"] == globex[0]["email"] == "jane.smith@acme.com"
