"""Signing a TestClient in to the console and reading its forms."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in; returns the session's CSRF token."""
    form = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/").text)
