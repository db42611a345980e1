"""Spec §8: the OpenAPI document and interactive docs, usable on a machine without internet."""

from __future__ import annotations

from html.parser import HTMLParser

from starlette.testclient import TestClient

from tests.conftest import assert_error

EXPECTED_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value is not None:
                self.urls.append(value)


def test_docs_page_uses_only_files_the_server_itself_serves(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    assert len(links.urls) >= 3, links.urls
    for url in links.urls:
        # same origin: an absolute path, never a scheme or a protocol-relative host
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
        assert asset.content, url
    assert "http://" not in page.text and "https://" not in page.text
    # the UI loads the document from this server too, and the bundle is Swagger UI 5 (3.1)
    init = client.get("/docs/static/init.js").text
    assert '"/openapi.json"' in init
    bundle = client.get("/docs/static/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content
    assert client.get("/openapi.json").json()["openapi"] == "3.1.0"


def test_only_the_docs_files_are_served(client: TestClient) -> None:
    for path in [
        "/docs/static/index.html",
        "/docs/static/swagger-ui.js.map",
        "/docs/static/..%2F__init__.py",
        "/docs/static/%2E%2E%2Fvendor",
        "/docs/static/",
        "/docs/static/../../pyproject.toml",
    ]:
        response = client.get(path)
        assert_error(response, 404, "NOT_FOUND")
