"""The console through the ASGI app (both backends): sessions, CSRF, headers, scopes,
isolation, and each page's forms. The browser tests (test_browser.py) cover the same
ground as a person meets it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from headwater.api.app import create_app
from headwater.config import Settings
from headwater.store import Store
from tests.conftest import SEED_PAYLOADS, MakeKey, bearer, ingest_body
from tests.console.helpers import csrf_of, sign_in


def test_pages_need_a_session_and_sign_in_sets_a_safe_cookie(
    client: TestClient, token: str
) -> None:
    response = client.get("/console/events", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    sign_in(client, token)
    cookie = next(c for c in client.cookies.jar if c.name == "headwater_console")
    assert token not in cookie.value and cookie.path == "/console"
    header = next(
        v for k, v in client.post(
            "/console/sign-in",
            data={"csrf": csrf_of(client.get("/console/sign-in").text), "token": token},
            follow_redirects=False,
        ).headers.multi_items() if k == "set-cookie" and v.startswith("headwater_console=")
    )  # fmt: skip
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/console" in header
    assert client.get("/console/").status_code == 200


def test_every_console_response_carries_the_security_headers(
    client: TestClient, token: str
) -> None:
    sign_in(client, token)
    for path in ("/console/", "/console/sign-in", "/console/nope", "/console/static/console.css"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/nope").status_code == 404
    assert "<h1>404</h1>" in client.get("/console/nope").text


def test_the_root_leads_to_the_console_with_a_path_only(client: TestClient) -> None:
    response = client.get("/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_no_console_turns_it_off(store: Store, database_url: str) -> None:
    app = create_app(
        Settings(database_url=database_url, embedded_worker=False, console=False), store=store
    )
    with TestClient(app) as client:
        response = client.get("/console/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert client.get("/").status_code == 404


def test_the_environment_variable_turns_it_off() -> None:
    assert Settings.from_env({"HEADWATER_CONSOLE": "false"}).console is False
    assert Settings.from_env({"HEADWATER_CONSOLE": "1"}).console is True
    assert Settings.from_env({}).console is True


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        ("sk_live_" + "0" * 40, 401, "The API key is not valid."),
        ("not a key", 401, "The API key is not valid."),
    ],
)
def test_sign_in_refuses_unknown_keys(
    client: TestClient, token: str, status: int, message: str
) -> None:
    form = client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"csrf": csrf_of(form.text), "token": token})
    assert response.status_code == status
    assert message in response.text
    assert "headwater_console=" not in response.headers.get("set-cookie", "")


def test_sign_in_without_its_csrf_token_is_refused(client: TestClient, token: str) -> None:
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"token": token})
    assert response.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_revoked_keys_session_ends_at_once(
    client: TestClient, make_key: MakeKey, token: str
) -> None:
    viewer = make_key(scopes="read", label="viewer")
    sign_in(client, viewer)
    assert client.get("/console/events").status_code == 200
    listed = client.get("/v1/keys", headers=bearer(token)).json()["data"]
    key_id = next(k["id"] for k in listed if k["label"] == "viewer")
    assert client.delete(f"/v1/keys/{key_id}", headers=bearer(token)).status_code == 200
    response = client.get("/console/events", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    form = client.get("/console/sign-in")
    again = client.post("/console/sign-in", data={"csrf": csrf_of(form.text), "token": viewer})
    assert again.status_code == 403
    assert "revoked" in again.text


def test_sign_out_ends_the_session_on_the_server(client: TestClient, token: str) -> None:
    csrf = sign_in(client, token)
    session_cookie = client.cookies.get("headwater_console")
    response = client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("headwater_console", session_cookie or "", path="/console")
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_posts_without_or_with_a_wrong_csrf_token_change_nothing(
    client: TestClient, token: str, source_id: str
) -> None:
    csrf = sign_in(client, token)
    for sent in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + "x"}):
        response = client.post(
            f"/console/sources/{source_id}", data={"action": "rename", "name": "X", **sent}
        )
        assert response.status_code == 403
    assert (
        client.get(f"/v1/sources/{source_id}", headers=bearer(token)).json()["data"]["name"]
        == "CRM"
    )


def test_sources_rename_pause_mappings_and_renormalize(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    csrf = sign_in(client, token)
    page = f"/console/sources/{source_id}"
    client.post(
        page, data={"csrf": csrf, "action": "rename", "name": "CRM <live>", "entityTypes": "deal"}
    )
    source = client.get(f"/v1/sources/{source_id}", headers=bearer(token)).json()["data"]
    assert source["name"] == "CRM <live>" and source["entityTypes"] == ["deal"]
    assert "CRM &lt;live&gt;" in client.get(page).text
    client.post(page, data={"csrf": csrf, "action": "status", "status": "paused"})
    assert (
        client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)).status_code
        == 409
    )
    client.post(page, data={"csrf": csrf, "action": "status", "status": "active"})
    bad = client.post(
        page, data={"csrf": csrf, "action": "mappings", "mappings": '{"deal": {"statusFields": 3}}'}
    )
    assert bad.status_code == 400
    assert "deal" in bad.text and 'aria-invalid="true"' in bad.text
    assert "{&#34;deal&#34;: {&#34;statusFields&#34;: 3}}" in bad.text  # kept for fixing
    not_json = client.post(page, data={"csrf": csrf, "action": "mappings", "mappings": "{"})
    assert not_json.status_code == 400
    good = '{"deal": {"statusFields": ["stage"]}}'
    client.post(page, data={"csrf": csrf, "action": "mappings", "mappings": good})
    source = client.get(f"/v1/sources/{source_id}", headers=bearer(token)).json()["data"]
    assert source["mappings"] == {"deal": {"statusFields": ["stage"]}}
    assert (
        client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)).status_code
        == 202
    )
    normalize_all()
    response = client.post(
        page, data={"csrf": csrf, "action": "renormalize"}, follow_redirects=False
    )
    assert response.status_code == 303
    shown = client.get(response.headers["location"]).text
    assert "Re-normalization queued." in shown and "renormalize" in shown
    normalize_all()
    batches = client.get("/v1/ingest", headers=bearer(token)).json()["data"]
    job = next(b for b in batches if b["kind"] == "renormalize")
    assert job["status"] == "done"
    batch_page = client.get(f"/console/batches/{job['batchId']}").text
    assert "2 / 2 records" in batch_page


def test_create_source_validates_like_the_api(client: TestClient, token: str) -> None:
    csrf = sign_in(client, token)
    blank = client.post("/console/sources", data={"csrf": csrf, "name": "   "})
    assert blank.status_code == 400
    bad_type = client.post(
        "/console/sources", data={"csrf": csrf, "name": "Ok", "entityTypes": "deal, bad type!"}
    )
    assert bad_type.status_code == 400
    created = client.post(
        "/console/sources",
        data={"csrf": csrf, "name": "Helpdesk", "entityTypes": "ticket"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    listed = client.get("/v1/sources", headers=bearer(token)).json()["data"]
    assert [s["name"] for s in listed] == ["Helpdesk"]


def test_keys_create_shows_the_token_once_and_revoke_works(client: TestClient, token: str) -> None:
    csrf = sign_in(client, token)
    created = client.post(
        "/console/keys", data={"csrf": csrf, "label": "sync", "scope_ingest": "on"}
    )
    assert created.status_code == 201
    new_token = re.search(r'id="new-token">(sk_live_[0-9a-f]{40})<', created.text)
    assert new_token is not None
    assert client.get("/v1/sources", headers=bearer(new_token.group(1))).status_code == 403
    assert new_token.group(1) not in client.get("/console/keys").text
    listed = client.get("/v1/keys", headers=bearer(token)).json()["data"]
    key_id = next(k["id"] for k in listed if k["label"] == "sync")
    client.post(f"/console/keys/{key_id}/revoke", data={"csrf": csrf})
    refused = client.get("/v1/sources", headers=bearer(new_token.group(1)))
    assert refused.json()["error"]["code"] == "KEY_REVOKED"
    none = client.post("/console/keys", data={"csrf": csrf, "label": "x"})
    assert none.status_code == 400


def test_scopes_decide_what_a_key_sees_and_may_post(
    client: TestClient, make_key: MakeKey, source_id: str
) -> None:
    csrf = sign_in(client, make_key(scopes="read", label="reader"))
    assert "/console/keys" not in client.get("/console/").text
    assert "Re-normalize" not in client.get(f"/console/sources/{source_id}").text
    assert client.get("/console/keys").status_code == 403
    for path, data in [
        (f"/console/sources/{source_id}", {"action": "renormalize"}),
        ("/console/sources", {"name": "x"}),
        ("/console/keys", {"label": "x", "scope_admin": "on"}),
    ]:
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 403, path


def test_another_organisations_ids_are_404_pages(
    client: TestClient, token: str, make_key: MakeKey, source_id: str,
    normalize_all: Callable[[], int],
) -> None:  # fmt: skip
    ack = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)).json()
    normalize_all()
    event = client.get("/v1/events", headers=bearer(token)).json()["data"][0]
    version_id = event["recordVersionId"]
    csrf = sign_in(client, make_key(org="globex"))
    for path in [
        f"/console/sources/{source_id}",
        f"/console/batches/{ack['data']['batchId']}",
        f"/console/events/{event['id']}",
        f"/console/versions/{version_id}",
        f"/console/versions/{version_id}/payload",
        f"/console/record?sourceId={source_id}&entityType=deal&recordId=deal-4471",
        f"/console/records?sourceId={source_id}",
        f"/console/actors/{event['actor']['id']}",
        "/console/sources/not-a-uuid",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "deal-4471" not in response.text and "Acme" not in response.text, path
    for path, data in [
        (f"/console/sources/{source_id}", {"action": "renormalize"}),
        (f"/console/sources/{source_id}", {"action": "rename", "name": "Mine"}),
    ]:
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 404
    assert (
        client.get(f"/v1/sources/{source_id}", headers=bearer(token)).json()["data"]["name"]
        == "CRM"
    )


def test_pages_show_seeded_data(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token))
    normalize_all()
    sign_in(client, token)
    overview = client.get("/console/").text
    assert re.search(r"Records</span><span class=\"value\">2<", overview)
    assert re.search(r"Events</span><span class=\"value\">5<", overview)
    assert "<rect" in overview
    events = client.get(f"/console/events?sourceId={source_id}&action=deal_owner_assigned").text
    assert events.count("deal_owner_assigned</code>") == 2
    actors = client.get("/console/actors?q=JANE").text
    assert "jane.smith@acme.com" in actors and "mark.lee" not in actors
    heads = client.get(f"/console/records?sourceId={source_id}&entityType=deal").text
    assert "deal-4471" in heads and "deal-4472" in heads
    assert len(SEED_PAYLOADS) == 2
    assert client.get("/console/events?from=not-a-time").status_code == 400
    assert client.get("/console/batches?status=nope").status_code == 400


def test_the_session_cookie_is_secure_over_https(
    store: Store, database_url: str, token: str
) -> None:
    app = create_app(Settings(database_url=database_url, embedded_worker=False), store=store)
    with TestClient(app, base_url="https://console.test") as client:
        form = client.get("/console/sign-in")
        response = client.post(
            "/console/sign-in",
            data={"csrf": csrf_of(form.text), "token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "; Secure" in response.headers["set-cookie"]


def test_a_long_version_chain_is_shown_a_page_at_a_time(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record's page reads the newest versions (plus one diff base), not its whole history."""
    from headwater.console.views import records

    monkeypatch.setattr(records, "CHAIN_SHOWN", 3)
    for stage in range(7):
        record = {
            "recordId": "deal-1",
            "entityType": "deal",
            "sourceUpdatedAt": f"2026-06-1{stage}T10:00:00Z",
            "payload": {"name": "Acme", "stage": f"stage-{stage}"},
        }
        response = client.post(
            "/v1/ingest", json=ingest_body(source_id, [record]), headers=bearer(token)
        )
        assert response.status_code == 202, response.text
    normalize_all()
    sign_in(client, token)
    page = client.get(
        "/console/record",
        params={"sourceId": source_id, "entityType": "deal", "recordId": "deal-1"},
    )
    assert page.status_code == 200, page.text
    assert "7 versions, newest first" in page.text
    assert "4 older versions are not shown" in page.text
    shown = re.findall(r"stage-(\d)", page.text)
    assert "6" in shown and "3" in shown  # the newest three: 6, 5, 4 and 4's diff from 3
    assert "0" not in shown and "1" not in shown and "2" not in shown
