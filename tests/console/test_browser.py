"""The console in a real browser (Chromium + Playwright) against `headwater serve`, on
both backends. Screenshots of every page go to build/console-screenshots/."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.console.conftest import Browsing, Org, make_org
from tests.live.conftest import Server

pytestmark = pytest.mark.xdist_group("console-browser")

HOSTILE = "<script>alert(document.cookie)</script>"
HOSTILE_ATTR = "'><img src=x onerror=alert(1)>"
#: a recordId that lands in href attributes and headings: quotes and markup, escaped
EVIL_ID = 'deal-"><img src=x onerror=alert(2)><b>evil</b>'


def record(record_id: str, updated: str, payload_text: str) -> str:
    """One record of an ingest body, its payload spelled exactly as given."""
    return (
        f'{{"recordId": {json.dumps(record_id)}, "entityType": "deal", '
        f'"sourceUpdatedAt": "{updated}", "payload": {payload_text}}}'
    )


#: the first version's payload, with the odd spacing a client may send: stored verbatim
FIRST = '{ "name":"Acme Corp renewal",  "stage": "negotiation", "amount": 42000, "owner": "jane.smith@acme.com", "movedToStageBy": "jane.smith@acme.com" }'
SECOND = '{"name": "Acme Corp renewal", "stage": "closed_won", "amount": 45000, "owner": "jane.smith@acme.com", "movedToStageBy": "mark.lee@acme.com"}'


def seed(org: Org) -> None:
    first = [
        record("deal-4471", "2026-06-10T14:03:00Z", FIRST),
        record(
            "deal-4472", "2026-06-10T15:21:00Z",
            '{"name": "Northwind expansion", "stage": "closed_won", "owner": "mark.lee@acme.com"}',
        ),
        record(
            EVIL_ID, "2026-06-10T15:30:00Z",
            json.dumps({"name": HOSTILE, "stage": HOSTILE_ATTR, "owner": "eve@example.com"}),
        ),
        '{"recordId": "", "entityType": "deal", "sourceUpdatedAt": "2026-06-10T15:21:00Z", "payload": {}}',
    ]  # fmt: skip
    org.ingest_raw(f'{{"sourceId": "{org.source_id}", "records": [{", ".join(first)}]}}'.encode())
    org.ingest_raw(
        f'{{"sourceId": "{org.source_id}", "records": '
        f"[{record('deal-4471', '2026-06-11T09:00:00Z', SECOND)}]}}".encode()
    )
    org.wait_done()


@pytest.fixture
def org(console_server: Server) -> Org:
    made = make_org(console_server)
    seed(made)
    return made


def status_of(response: Any) -> int:
    return int(response.status)


def test_sign_in_and_every_page(browsing: Browsing, org: Org, backend: str) -> None:
    page = browsing.page
    assert browsing.goto("/console/").url.endswith("/console/sign-in")
    browsing.shot("01-sign-in")
    browsing.page.fill("#token", "sk_live_" + "0" * 40)
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "The API key is not valid."
    browsing.sign_in(org.token)
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator(".card", has_text="Records").locator(".value").inner_text() == "3"
    assert page.locator("figure.chart svg rect").count() > 0  # the ingest chart has bars
    browsing.shot("02-overview")
    for path, name, heading in [
        ("/console/sources", "03-sources", "Sources"),
        (f"/console/sources/{org.source_id}", "04-source", "CRM"),
        ("/console/batches", "05-batches", "Batches"),
        (f"/console/batches/{org.batches[0]}", "06-batch", "Batch"),
        (f"/console/records?sourceId={org.source_id}", "07-records", "Records"),
        ("/console/events", "10-events", "Events"),
        ("/console/actors", "12-actors", "Actors"),
        ("/console/processes", "14-processes", "Processes"),
        ("/console/keys", "15-keys", "API keys"),
    ]:
        response = browsing.goto(path)
        assert status_of(response) == 200, path
        assert page.locator("h1").first.inner_text().startswith(heading), path
        browsing.shot(name)
    browsing.goto("/console/actors")
    page.click("text=jane.smith@acme.com >> nth=0")
    assert page.locator("h1").inner_text().startswith("jane.smith@acme.com")
    browsing.shot("13-actor")
    batch = page.goto(f"{browsing.base_url}/console/batches/{org.batches[0]}")
    assert status_of(batch) == 200
    assert "INVALID_RECORD_ID" in page.locator("table").first.inner_text()
    assert browsing.goto("/console/no-such-page").status == 404
    browsing.shot("16-not-found")
    page.click("text=Sign out")
    page.wait_for_url("**/console/sign-in")
    assert browsing.goto("/console/").url.endswith("/console/sign-in")


def test_find_a_record_its_versions_diff_and_payload(browsing: Browsing, org: Org) -> None:
    page = browsing.page
    browsing.sign_in(org.token)
    page.click("nav >> text=Records")
    page.select_option("select[name=sourceId]", org.source_id)
    page.fill("input[name=entityType]", "deal")
    page.fill("input[name=recordId]", "deal-4471")
    page.click("form.filters button")
    assert page.locator("h1").inner_text() == "deal-4471"
    versions = page.locator("ol.timeline > li")
    assert versions.count() == 2
    newest = versions.nth(0)
    assert "superseded" in newest.inner_text()
    diff = newest.locator("table.diff")
    assert '"negotiation"' in diff.inner_text() and '"closed_won"' in diff.inner_text()
    assert "deal_stage_changed" in newest.inner_text()  # the events this version produced
    browsing.shot("08-record")
    versions.nth(1).locator("text=Payload").click()
    assert page.locator("h1").inner_text().startswith("Version")
    assert '"negotiation"' in page.locator("#payload").inner_text()
    browsing.shot("09-version")
    raw = page.context.request.get(page.url + "/payload")
    assert raw.status == 200
    assert raw.body() == FIRST.encode()  # byte for byte, odd spacing and all
    download = page.context.request.get(page.url + "/payload?download=1")
    assert "attachment" in download.headers["content-disposition"]
    assert download.body() == FIRST.encode()


def test_event_provenance_links_lead_to_batch_and_source(browsing: Browsing, org: Org) -> None:
    page = browsing.page
    browsing.sign_in(org.token)
    browsing.goto("/console/events?action=deal_stage_changed&entityId=deal-4471")
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    rows.first.locator("td a").first.click()
    assert page.locator("h1").inner_text() == "deal_stage_changed"
    browsing.shot("11-event")
    page.click("#prov-version")
    assert page.locator("h1").inner_text().startswith("Version")
    page.go_back()
    page.click("#prov-batch")
    assert page.locator("h1").inner_text().startswith(f"Batch {org.batches[1]}")
    page.go_back()
    page.click("#prov-source")
    assert page.locator("h1").inner_text().startswith("CRM")


def test_create_and_revoke_a_key(browsing: Browsing, org: Org) -> None:
    from playwright.sync_api import expect

    page = browsing.page
    browsing.sign_in(org.token)
    page.click("nav >> text=Keys")
    page.fill("input[name=label]", "nightly sync")
    page.check("input[name=scope_ingest]")
    page.click("text=Create key")
    token = page.locator("#new-token").inner_text()
    assert re.fullmatch(r"sk_live_[0-9a-f]{40}", token)
    browsing.shot("15-keys-created")
    page.click("button[data-copy=new-token]")
    # the copy settles asynchronously (clipboard API): wait for the button to say so
    expect(page.locator("button[data-copy=new-token]")).to_have_text("Copied", timeout=10_000)
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    url = f"{browsing.base_url}/v1/sources"
    assert httpx.get(url, headers=headers).status_code == 200
    # the token is shown once: reloading the list never shows it again
    browsing.goto("/console/keys")
    assert token not in page.content()
    page.locator("tr", has_text="nightly sync").locator("button", has_text="Revoke").click()
    assert page.locator("[role=status]").inner_text() == "Key revoked."
    refused = httpx.get(url, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "KEY_REVOKED"


def test_hostile_payload_renders_as_text_and_runs_nothing(browsing: Browsing, org: Org) -> None:
    page = browsing.page
    browsing.sign_in(org.token)
    browsing.goto(f"/console/records?sourceId={org.source_id}")
    page.get_by_text(EVIL_ID).click()
    assert page.locator("h1").inner_text() == EVIL_ID
    page.click("ol.timeline >> text=Payload")
    text = page.locator("#payload").inner_text()
    assert HOSTILE in text and HOSTILE_ATTR in text
    assert page.locator("img").count() == 0
    assert page.locator("b").count() == 0
    scripts = page.eval_on_selector_all("script", "nodes => nodes.map(n => n.src)")
    assert scripts == [f"{browsing.base_url}/console/static/console.js"]
    browsing.goto("/console/events?" + urlencode({"entityId": EVIL_ID}))
    assert page.locator("table tbody tr").count() >= 1
    assert HOSTILE in page.locator("table").inner_text()
    assert page.locator("img").count() == 0
    browsing.shot("17-hostile-payload")
    # the fixture asserts that no dialog (alert) was opened and no CSP violation logged


def test_a_form_without_its_csrf_token_is_refused(browsing: Browsing, org: Org) -> None:
    page = browsing.page
    browsing.sign_in(org.token)
    browsing.goto(f"/console/sources/{org.source_id}")
    form = page.locator("form", has=page.locator("input[name=action][value=rename]"))
    form.locator("input[name=name]").fill("Renamed without a token")
    form.locator("input[name=csrf]").evaluate("node => node.remove()")
    form.locator("button").click()
    assert page.locator("h1").inner_text() == "403"
    browsing.shot("18-csrf-refused")
    browsing.goto(f"/console/sources/{org.source_id}")
    assert page.locator("h1").inner_text().startswith("CRM")  # nothing changed
    forged = page.context.request.post(
        f"{browsing.base_url}/console/sources/{org.source_id}",
        form={"action": "rename", "name": "Forged", "csrf": "not-the-token"},
    )
    assert forged.status == 403
    browsing.goto(f"/console/sources/{org.source_id}")
    assert page.locator("h1").inner_text().startswith("CRM")


def test_a_read_only_key_sees_no_write_controls(browsing: Browsing, org: Org) -> None:
    page = browsing.page
    browsing.sign_in(org.key("read", label="viewer"))
    assert page.locator("nav >> text=Keys").count() == 0
    browsing.goto("/console/sources")
    assert page.locator("form[method=post]", has_text="Create source").count() == 0
    browsing.goto(f"/console/sources/{org.source_id}")
    for control in ("Re-normalize", "Pause", "Archive", "Save mappings", "Save"):
        assert page.locator(f"button:text-is('{control}')").count() == 0, control
    assert page.locator("textarea").count() == 0
    browsing.shot("19-read-only-source")
    csrf = page.locator("form.signout input[name=csrf]").input_value()
    refused = page.context.request.post(
        f"{browsing.base_url}/console/sources/{org.source_id}",
        form={"action": "renormalize", "csrf": csrf},
    )
    assert refused.status == 403
    created = page.context.request.post(
        f"{browsing.base_url}/console/sources", form={"name": "Nope", "csrf": csrf}
    )
    assert created.status == 403
    assert browsing.goto("/console/keys").status == 403
    keys = page.context.request.post(
        f"{browsing.base_url}/console/keys",
        form={"label": "x", "scope_admin": "on", "csrf": csrf},
    )
    assert keys.status == 403


def test_another_organisations_ids_are_a_404_page(
    browsing: Browsing, org: Org, console_server: Server
) -> None:
    page = browsing.page
    browsing.sign_in(org.token)
    browsing.goto(f"/console/records?sourceId={org.source_id}&entityType=deal&recordId=deal-4471")
    record_url = page.url.removeprefix(browsing.base_url)
    version_path = page.locator("ol.timeline >> text=Payload").first.get_attribute("href")
    browsing.goto("/console/events")
    event_path = page.locator("table tbody tr td a").first.get_attribute("href")
    page.click("text=Sign out")
    other = make_org(console_server, source_name="Other")
    browsing.sign_in(other.token)
    for path in [
        record_url,
        version_path,
        f"{version_path}/payload",
        event_path,
        f"/console/sources/{org.source_id}",
        f"/console/batches/{org.batches[0]}",
        f"/console/records?sourceId={org.source_id}",
    ]:
        response = browsing.goto(path)
        assert response.status == 404, path
        assert page.locator("h1").inner_text() == "404", path
        assert "deal-4471" not in page.content()
