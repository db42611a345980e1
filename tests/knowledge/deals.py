"""Seed-like deal data for the rule tests: eight deals through a sales pipeline.

Six are won (lead -> qualified -> negotiation -> closed_won), two lost (lead -> qualified
-> closed_lost). jane.smith@acme.com closes five of the six won deals, mark.lee@acme.com
one. Payloads are sent as text with odd spacing, so a test can compare the verbatim bytes.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import bearer
from tests.normalize.helpers import version_ids

JANE, MARK = "jane.smith@acme.com", "mark.lee@acme.com"
WON = [f"deal-{n}" for n in range(1, 7)]
LOST = ["deal-7", "deal-8"]


def _at(day: int, hour: int = 9) -> str:
    return f"2026-06-{day:02d}T{hour:02d}:00:00Z"


def _payload(name: str, stage: str, by: str | None) -> str:
    moved = f', "movedToStageBy" :"{by}"' if by else ""
    return f'{{ "name": "{name}",  "stage":"{stage}" ,"amount": 1.0E+4{moved} }}'


def batches() -> list[list[tuple[str, str, str]]]:
    """(recordId, sourceUpdatedAt, payload text) per record, one list per request."""
    first = [(d, _at(1), _payload(d, "lead", None)) for d in WON + LOST]
    second = [(d, _at(2), _payload(d, "qualified", MARK)) for d in WON + LOST]
    third = [(d, _at(3), _payload(d, "negotiation", JANE)) for d in WON]
    third += [(d, _at(4), _payload(d, "closed_lost", MARK)) for d in LOST]
    # negotiation -> closed_won: 2 to 7 days; deal-6 closed by Mark
    fourth = [
        (d, _at(3 + 2 + i), _payload(d, "closed_won", MARK if d == "deal-6" else JANE))
        for i, d in enumerate(WON)
    ]
    return [first, second, third, fourth]


def load_deals(client: TestClient, token: str, source_id: str) -> dict[str, str]:
    """Ingest the deals; returns {version id: the payload text sent}."""
    sent: dict[str, str] = {}
    for records in batches():
        items = ",\n".join(
            f'{{"recordId":"{r}","entityType":"deal","sourceUpdatedAt":"{at}","payload":{p}}}'
            for r, at, p in records
        )
        body = f'{{"sourceId": "{source_id}", "records": [\n{items}\n]}}'
        response = client.post(
            "/v1/ingest",
            content=body.encode(),
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.text
        ids = version_ids(client, token, response.json()["data"]["batchId"])
        for version_id, (_, _, payload) in zip(ids, records, strict=True):
            assert version_id is not None
            sent[version_id] = payload
    return sent
