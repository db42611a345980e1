"""Issue #11 point 4: what the HTTP server answers before the app runs is in the envelope.

A real `headwater serve` process, reached with raw sockets: requests its parser cannot
read (unknown method, malformed request line or header, bad Content-Length, an HTTP/2
preface, TLS bytes) and an over-long request line or header block all get the JSON error
envelope with an `X-Request-Id`; none of them is a plain-text answer. The server's
behaviour does not depend on the store, so one backend is enough.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator

import pytest

from headwater.store import migrate
from tests.live.conftest import Server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (on SQLite: no request here reaches the store)."""
    directory = tmp_path_factory.mktemp("server-errors")
    url = f"sqlite:///{directory / 'headwater.db'}"
    migrate.upgrade(url)
    running = Server(url).start(directory)
    yield running
    running.stop()


def _exchange(server: Server, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as is; read until the server closes (or 10 s); parse one response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # the server may answer and stop reading before all of it was sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _assert_envelope(status: int, headers: dict[str, str], body: bytes, code: str) -> str:
    assert headers["content-type"] == "application/json", (status, headers, body)
    document = json.loads(body)
    assert len(body) == int(headers["content-length"])
    assert document["success"] is False
    assert document["error"]["code"] == code
    assert document["error"]["message"]
    assert document["meta"]["requestId"] == headers["x-request-id"]
    assert str(uuid.UUID(headers["x-request-id"])) == headers["x-request-id"]
    message: str = document["error"]["message"]
    return message


@pytest.mark.parametrize(
    ("name", "request_bytes", "words"),
    [
        ("unknown method", b"FROB /v1/sources HTTP/1.1\r\nHost: x\r\n\r\n", "method"),
        ("bad version", b"GET /v1/sources HTTP/7.0\r\nHost: x\r\n\r\n", "malformed"),
        ("bad header name", b"GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n", "malformed"),
        ("bad content-length",
         b"POST /v1/sources HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", "malformed"),
        ("two content-lengths",
         b"POST /v1/sources HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "malformed"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "malformed"),
        ("TLS on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
         "method"),
        ("request line of 100 KB", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         "malformed"),
        ("request line of 2 MB", b"GET /" + b"a" * 2_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         "65,536 bytes"),
        ("header of 200 KB",
         b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
         "65,536 bytes"),
    ],
)  # fmt: skip
def test_what_the_parser_refuses_is_in_the_envelope(
    server: Server, name: str, request_bytes: bytes, words: str
) -> None:
    status, headers, body = _exchange(server, request_bytes)
    assert status == 400, (name, body)
    message = _assert_envelope(status, headers, body, "VALIDATION_ERROR")
    assert words in message, (name, message)
    assert headers["connection"] == "close"
    # the server keeps serving
    status, headers, body = _exchange(
        server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200


def test_just_under_the_head_limit_reaches_the_app(server: Server) -> None:
    """Headers that fit are the app's to judge: an unknown path is its 404 envelope."""
    request_bytes = (
        b"GET /v1/" + b"a" * 30_000 + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 30_000
        + b"\r\nConnection: close\r\n\r\n"
    )  # fmt: skip
    status, headers, body = _exchange(server, request_bytes)
    assert status == 404
    _assert_envelope(status, headers, body, "NOT_FOUND")


def test_a_websocket_upgrade_is_served_as_plain_http(server: Server) -> None:
    """No WebSocket protocol runs: the upgrade is ignored and the app answers (here 401)."""
    status, headers, body = _exchange(
        server,
        b"GET /v1/sources HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    )
    assert status == 401
    _assert_envelope(status, headers, body, "MISSING_AUTH_HEADER")


def test_no_redirect_from_a_live_server(server: Server) -> None:
    """Point 3 as a client meets it: a trailing slash is a 404, never a Location built
    from the Host header."""
    status, headers, body = _exchange(
        server, b"GET /v1/sources/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert status == 404
    assert "location" not in headers
    _assert_envelope(status, headers, body, "NOT_FOUND")
