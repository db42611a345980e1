"""The HTTP server's own answers in the API's envelope (spec §1).

uvicorn answers some requests before the app sees them: a request its parser
(httptools/llhttp) cannot read — an unknown method, a malformed request line or header,
an invalid Content-Length, a header block over llhttp's limit — gets a plain-text
`400 Invalid HTTP request received.`. This protocol class writes the JSON error envelope
with an `X-Request-Id` instead. What the parser never limits, and what uvicorn still
answers on its own, is listed in docs/decisions.md ("Errors the HTTP server produces").
"""

from __future__ import annotations

import logging

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from headwater import errors
from headwater.api import envelope
from headwater.core.validation import parse_uuid
from headwater.ids import new_id

log = logging.getLogger("headwater.api")


#: the request line and headers together; llhttp itself sets no limit (a URL over 64 KiB
#: fails uvicorn's URL parsing, anything else would be buffered whole)
MAX_HEAD_BYTES = 64 * 1024
#: how long a refused connection is still read (and dropped) before it is closed
LINGER_SECONDS = 2.0


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with its parser errors in the error envelope and a
    bound on the request line and headers."""

    _in_head = True
    _head_bytes = 0
    _refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: read and dropped until the linger ends
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
            if self._in_head:  # the whole chunk was request line or headers
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse(f"The request line and headers exceed {MAX_HEAD_BYTES:,} bytes.")
        except httptools.HttpParserInvalidMethodError:
            self._refuse("The request method is not an HTTP method this server knows.")
        except httptools.HttpParserError as exc:
            log.info("HTTP parser: %s", exc)  # llhttp's words, for the operator only
            self._refuse("The HTTP request is malformed.")
        except httptools.HttpParserUpgrade:
            # `serve` runs without a WebSocket protocol, so an upgrade request is served as
            # plain HTTP (uvicorn logs that it ignored the upgrade)
            self._unsupported_upgrade_warning()

    def send_400_response(self, msg: str) -> None:  # uvicorn's own callers, if any remain
        self._refuse("The HTTP request is malformed.")

    def _refuse(self, message: str) -> None:
        request_id = self._client_request_id() or new_id()
        error = errors.ValidationFailed(
            message, [{"field": "request", "message": "is not a valid HTTP/1.1 request"}]
        )
        body = envelope.error_body(error, request_id)
        log.warning(
            "unreadable HTTP request from %s, requestId=%s: %s", self.client, request_id, message
        )
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode("ascii"), b"\r\n",
            b"x-request-id: ", request_id.encode("ascii"), b"\r\n",
            b"connection: close\r\n\r\n",
        ]  # fmt: skip
        if self.transport.is_closing():
            return
        self.transport.write(b"".join(head) + body)
        # Closing at once, with the client's unread bytes still arriving, makes the kernel
        # reset the connection, and a client still sending (a 2 MB request line) may never
        # see the answer. So: end our side, drop whatever else arrives, close a little later.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _client_request_id(self) -> str | None:
        """A well-formed X-Request-Id already read from this request (spec §1), if any."""
        for name, value in getattr(self, "headers", []):
            if name == b"x-request-id":
                return parse_uuid(value.decode("latin-1").strip())
        return None
