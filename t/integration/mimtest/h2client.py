"""A small HTTP/2 client on python3-h2 that reports trailers as sent.

curl 7.88 (and so libcurl) drops an HTTP/2 trailer HEADERS frame that
follows a body whose Content-Length was given; this client does not, so a
test can tell what nginx sent from what a given client shows.
"""

import socket
import ssl

import h2.config
import h2.connection
import h2.events

from . import paths
from .http import Headers, IncompleteResponse, Response, _split_url


def _fields(pairs):
    out = []
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out.append((name, value))
    return out


def h2_request(url, method="GET", headers=None, body=None, timeout=30.0,
               cafile=None, allow_incomplete=False):
    """One request on a new HTTP/2 connection: TLS with ALPN h2 for
    https://, prior knowledge (h2c) for http://.  Returns a Response with
    version "HTTP/2"; trailers are the fields of a trailing HEADERS frame.
    A reset stream or a closed connection raises IncompleteResponse unless
    allow_incomplete."""
    scheme, addr, port, netloc, target = _split_url(url)
    sock = socket.create_connection((addr, port), timeout=timeout)
    if scheme == "https":
        ctx = ssl.create_default_context(
            cafile=str(cafile or paths.CERTS / "ca.crt"))
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=addr)
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            raise AssertionError("server did not negotiate h2 (ALPN %r)"
                                 % sock.selected_alpn_protocol())
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding=None))
    conn.initiate_connection()
    # a large window: the test wants the whole body, not flow control
    conn.increment_flow_control_window(1 << 30)
    stream = conn.get_next_available_stream_id()
    request_headers = [(":method", method), (":scheme", scheme),
                       (":authority", netloc), (":path", target)]
    for name, value in (headers.items() if isinstance(headers, dict)
                        else headers or []):
        request_headers.append((name.lower(), value))
    conn.send_headers(stream, request_headers, end_stream=body is None)
    if body is not None:
        conn.send_data(stream, body, end_stream=True)

    resp = Response()
    resp.version = "HTTP/2"
    chunks = []
    try:
        sock.sendall(conn.data_to_send())
        while not resp.complete and not resp.error:
            data = sock.recv(1 << 16)
            if not data:
                resp.error = "connection closed before the stream ended"
                break
            for event in conn.receive_data(data):
                if getattr(event, "stream_id", stream) != stream:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    fields = _fields(event.headers)
                    status = [v for n, v in fields if n == ":status"]
                    resp.status = int(status[0])
                    resp.headers = Headers(
                        [(n, v) for n, v in fields if not n.startswith(":")])
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                    conn.acknowledge_received_data(
                        event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.TrailersReceived):
                    resp.trailers = Headers(_fields(event.headers))
                elif isinstance(event, h2.events.StreamEnded):
                    resp.complete = True
                elif isinstance(event, h2.events.StreamReset):
                    resp.error = "stream reset, error code %s" % (
                        event.error_code,)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    resp.error = "GOAWAY, error code %s" % (
                        event.error_code,)
            sock.sendall(conn.data_to_send())
    except socket.timeout:
        resp.error = "timed out after %.0fs" % timeout
    finally:
        sock.close()
    resp.body = b"".join(chunks)
    if not resp.complete and not allow_incomplete:
        raise IncompleteResponse("%s %s: %s" % (method, url, resp.error), resp)
    return resp
