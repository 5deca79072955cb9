"""HTTP clients that show what was really on the wire.

request(): a raw-socket HTTP/1.1 or HTTP/1.0 client.  It sends exactly the
request target it is given, keeps the body bytes as sent (no gzip
decoding), de-chunks and returns the TRAILER fields, which requests and
urllib3 1.26 cannot read.  One request per connection (Connection: close).

curl(): the curl tool, for HTTP/2 (TLS with ALPN, or h2c prior knowledge);
curl -D writes trailer fields after the header block when the response has
no Content-Length.
"""

import os
import socket
import ssl
import subprocess
import tempfile
from urllib.parse import urlsplit

from . import paths


class IncompleteResponse(Exception):
    """The connection ended before the response was complete."""

    def __init__(self, message, response):
        super().__init__(message)
        self.response = response


class Headers:
    """An ordered, case-insensitive list of header (or trailer) fields."""

    def __init__(self, fields=()):
        self.fields = [(str(n), str(v)) for n, v in fields]

    def get_all(self, name):
        name = name.lower()
        return [v for n, v in self.fields if n.lower() == name]

    def get(self, name, default=None):
        """The value of a field that must appear at most once."""
        values = self.get_all(name)
        if not values:
            return default
        if len(values) > 1:
            raise ValueError("header %s appears %d times: %r"
                             % (name, len(values), values))
        return values[0]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return bool(self.get_all(name))

    def __iter__(self):
        return iter(self.fields)

    def __len__(self):
        return len(self.fields)

    def names(self):
        return [n.lower() for n, _ in self.fields]

    def __repr__(self):
        return "Headers(%r)" % (self.fields,)


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = Headers()
        self.trailers = Headers()
        self.body = b""
        self.chunked = False
        self.complete = False
        self.raw = b""           # every byte received (raw-socket client)
        self.error = ""          # why it is incomplete

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return ("<Response %s %s %d body bytes, %d trailers%s>"
                % (self.version, self.status, len(self.body),
                   len(self.trailers), "" if self.complete
                   else ", INCOMPLETE: " + self.error))


def _split_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL: %s" % url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.scheme, host, port, parts.netloc, target


def _parse_fields(lines):
    fields = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("malformed field line %r" % line)
        fields.append((name.strip(), value.strip()))
    return fields


def _parse_head(data):
    """Split a status line + fields from data; skip 1xx interim answers.
    Returns (Response, rest) or (None, data) when the head is incomplete."""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None, data
        head, data = data[:end].decode("latin-1"), data[end + 4:]
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status, _, reason = rest.partition(" ")
        resp = Response()
        resp.version, resp.status, resp.reason = version, int(status), reason
        resp.headers = Headers(_parse_fields(lines[1:]))
        if 100 <= resp.status < 200 and resp.status != 101:
            continue
        return resp, data


def _dechunk(data, resp):
    """Decode a chunked body; sets body, trailers, complete."""
    body = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            resp.error = "connection closed inside a chunk size line"
            break
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        size = int(size_text, 16)
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n\r\n", pos - 2)
            if end < 0:
                resp.error = "connection closed inside the trailer section"
                break
            section = data[pos:end].decode("latin-1")
            resp.trailers = Headers(
                _parse_fields([ln for ln in section.split("\r\n") if ln]))
            resp.complete = True
            break
        if len(data) < pos + size + 2:
            body.append(data[pos:pos + size])
            resp.error = ("connection closed inside a chunk (%d of %d bytes)"
                          % (len(data) - pos, size))
            break
        body.append(data[pos:pos + size])
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
        pos += size + 2
    resp.body = b"".join(body)


def _has_no_body(method, status):
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


def request(method, url, headers=None, body=None, version="1.1",
            timeout=30.0, allow_incomplete=False, cafile=None, host=None):
    """Send one request, read the whole answer until the server closes.

    url: http://127.0.0.1:PORT/target?query or https://...; the target is
         sent exactly as written.
    headers: extra fields, a dict or a list of pairs (Host, Connection and
         Content-Length are added unless given).
    version: "1.1" or "1.0".
    host: the Host header value (default: the URL's host:port).
    Raises IncompleteResponse unless allow_incomplete (then check
    response.complete).
    """
    scheme, addr, port, netloc, target = _split_url(url)
    fields = list(headers.items() if isinstance(headers, dict)
                  else headers or [])
    given = {n.lower() for n, _ in fields}
    if "host" not in given:
        fields.insert(0, ("Host", host or netloc))
    if "connection" not in given:
        fields.append(("Connection", "close"))
    if body is not None and "content-length" not in given:
        fields.append(("Content-Length", str(len(body))))
    head = "%s %s HTTP/%s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % f for f in fields) + "\r\n"
    wire = head.encode("latin-1") + (body or b"")

    sock = socket.create_connection((addr, port), timeout=timeout)
    if scheme == "https":
        ctx = ssl.create_default_context(
            cafile=str(cafile or paths.CERTS / "ca.crt"))
        ctx.set_alpn_protocols(["http/1.1"])
        sock = ctx.wrap_socket(sock, server_hostname=addr)
    received = []
    error = ""
    try:
        sock.sendall(wire)
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            received.append(data)
    except socket.timeout:
        error = "timed out after %.0fs" % timeout
    except (ConnectionResetError, ssl.SSLError) as exc:
        error = "connection error: %s" % exc
    finally:
        sock.close()
    raw = b"".join(received)

    resp, rest = _parse_head(raw)
    if resp is None:
        resp = Response()
        resp.raw = raw
        resp.error = error or "connection closed before the header ended"
        if allow_incomplete:
            return resp
        raise IncompleteResponse("%s %s: %s (%d bytes received)"
                                 % (method, url, resp.error, len(raw)), resp)
    resp.raw = raw
    te = (resp.headers.get("Transfer-Encoding") or "").lower()
    if _has_no_body(method, resp.status):
        resp.complete = True
    elif te == "chunked":
        resp.chunked = True
        _dechunk(rest, resp)
    elif "Content-Length" in resp.headers:
        length = int(resp.headers["Content-Length"])
        resp.body = rest[:length]
        resp.complete = len(rest) >= length
        if not resp.complete:
            resp.error = ("connection closed after %d of %d body bytes"
                          % (len(rest), length))
    else:
        resp.body = rest          # delimited by the connection close
        resp.complete = not error
    if error and not resp.complete:
        resp.error = error + ("; " + resp.error if resp.error else "")
    if not resp.complete and not allow_incomplete:
        raise IncompleteResponse("%s %s: %s" % (method, url, resp.error), resp)
    return resp


def curl(url, method="GET", headers=None, body=None, http2=True,
         cafile=None, extra_args=(), timeout=60, allow_incomplete=False):
    """Fetch with the curl tool; returns a Response (raw is empty).

    https URLs negotiate HTTP/2 with ALPN (--http2); http URLs use h2c with
    prior knowledge.  http2=False gives HTTP/1.1.  Trailer fields come from
    what curl -D prints after the header block.  curl's exit code is kept
    in response.curl_rc; a non-zero code (truncated or reset stream) raises
    IncompleteResponse unless allow_incomplete.
    """
    tmp = tempfile.mkdtemp(prefix="mim-curl-")
    head_file = os.path.join(tmp, "head")
    body_file = os.path.join(tmp, "body")
    argv = [str(paths.CURL), "-sS", "--raw", "--max-time", str(timeout),
            "-D", head_file, "-o", body_file,
            "--cacert", str(cafile or paths.CERTS / "ca.crt")]
    if http2:
        argv.append("--http2" if url.startswith("https:")
                    else "--http2-prior-knowledge")
    else:
        argv.append("--http1.1")
    if method == "HEAD":
        argv.append("--head")
    elif method != "GET" or body is not None:
        argv += ["-X", method]
    for name, value in (headers.items() if isinstance(headers, dict)
                        else headers or []):
        argv += ["-H", "%s: %s" % (name, value)]
    if body is not None:
        body_in = os.path.join(tmp, "request-body")
        with open(body_in, "wb") as f:
            f.write(body)
        argv += ["--data-binary", "@" + body_in]
    argv += list(extra_args) + [url]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout + 10)
        head = open(head_file, "rb").read() if os.path.exists(head_file) \
            else b""
        data = open(body_file, "rb").read() if os.path.exists(body_file) \
            else b""
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)

    resp = Response()
    resp.curl_rc = proc.returncode
    resp.body = data
    text = head.decode("latin-1").replace("\r\n", "\n")
    blocks = text.split("\n\n")
    # skip interim 1xx blocks; the final block is followed by trailers
    index = 0
    while index < len(blocks) - 1 and \
            blocks[index].split(" ", 2)[1:2] and \
            blocks[index].split(" ", 2)[1].startswith("1"):
        index += 1
    final = blocks[index].split("\n") if blocks and blocks[index] else []
    if final:
        status_line = final[0].split(" ", 2)
        resp.version = status_line[0]
        resp.status = int(status_line[1])
        resp.reason = status_line[2].strip() if len(status_line) > 2 else ""
        resp.headers = Headers(_parse_fields([ln for ln in final[1:] if ln]))
    after = [ln for blk in blocks[index + 1:] for ln in blk.split("\n") if ln]
    resp.trailers = Headers(_parse_fields(after))
    resp.complete = proc.returncode == 0 and bool(final)
    if not resp.complete:
        resp.error = "curl exit %d: %s" % (
            proc.returncode, proc.stderr.decode(errors="replace").strip())
        if not allow_incomplete:
            raise IncompleteResponse("%s %s: %s" % (method, url, resp.error),
                                     resp)
    return resp
