"""A Dataspace Protocol 2025-1 consumer for the tests of the gateway's DSP
provider (conf/test/dsp.conf.in, t/integration/test_dsp_*.py).

    srv = start_dsp(nginx, redis, tmp_path)          # catalog written here
    consumer = Consumer(srv)                         # participant1's token
    with CallbackServer() as cb:                     # the consumer's side
        status, neg = consumer.request(offer_message(OPEN["@id"]),
                                       cb.url + "/callback")
        msg = cb.wait_for("/negotiations/%s/agreement" % cpid)

Every message is checked against the official JSON Schemas with
/work/shared/tools/dsp_validate.py (python3-jsonschema): the gateway's
answers by the Consumer, its callbacks by the CallbackServer.  Nothing here
knows the gateway's code: messages are built from the spec's rules.
"""

import copy
import datetime
import json
import re
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from . import identity, paths
from .http import request as http_request
from .net import LOOPBACK

CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
GATEWAY_ID = identity.GATEWAY_ID

# ---- the schemas ------------------------------------------------------------

TOOLS = paths.ROOT.parent / "shared" / "tools"
if not (TOOLS / "dsp_validate.py").is_file():
    raise ImportError("the DSP schema validator %s is missing: the DSP tests "
                      "need /work/shared/tools/dsp_validate.py and "
                      "shared/spec/dsp-2025-1" % (TOOLS / "dsp_validate.py"))
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
try:
    import dsp_validate  # noqa: E402
except ImportError as exc:          # jsonschema missing
    raise ImportError("cannot import %s (%s): apt-get install "
                      "python3-jsonschema" % (TOOLS / "dsp_validate.py", exc))

DSP_TYPES = set(dsp_validate.types())
if "ContractNegotiation" not in DSP_TYPES:
    raise ImportError("dsp_validate.py found no DSP 2025-1 schemas (looked "
                      "beside %s)" % TOOLS)


def schema_errors(obj, type_name=None):
    """The schema violations of obj ([] = valid)."""
    return dsp_validate.validate(obj, type_name)


def validate(obj, type_name=None):
    """Assert obj is a valid DSP 2025-1 message (of type_name, or of its
    own @type); returns obj."""
    errors = schema_errors(obj, type_name)
    assert not errors, ("not a valid DSP %s:\n  %s\nin %s"
                        % (type_name or (obj.get("@type")
                                         if isinstance(obj, dict) else "?"),
                           "\n  ".join(errors),
                           json.dumps(obj, indent=1)[:3000]))
    return obj


def is_dsp(obj):
    return isinstance(obj, dict) and obj.get("@type") in DSP_TYPES


def new_pid():
    return "urn:uuid:%s" % uuid.uuid4()


URN_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                      r"[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_time(text):
    """An xsd:dateTime with a Z or offset -> aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- the catalog the gateway serves ------------------------------------------

PARKING = "urn:mim:dataset:parking"
AIR = "urn:mim:dataset:air"

OPEN = {"@id": "urn:mim:offer:open", "permission": [{"action": "use"}]}
P2_ONLY = {"@id": "urn:mim:offer:p2-only",
           "permission": [{"action": "use",
                           "assignee": "EU.EORI.NL000000002"}]}
EXPIRED = {"@id": "urn:mim:offer:expired",
           "permission": [{"action": "use", "constraint": [
               {"leftOperand": "dateTime", "operator": "lteq",
                "rightOperand": "2020-01-01T00:00:00Z"}]}]}
# rightOperand a string: the DSP schema allows no JSON numbers there
COUNTED = {"@id": "urn:mim:offer:count-1000",
           "permission": [{"action": "use", "constraint": [
               {"leftOperand": "count", "operator": "lteq",
                "rightOperand": "1000"}]}]}
# kept in a file next to the catalog, named by a relative path
RESEARCH_FILE = "offers/research.jsonld"
RESEARCH = {"@id": "urn:mim:offer:research",
            "permission": [{"action": "use", "constraint": [
                {"leftOperand": "purpose", "operator": "eq",
                 "rightOperand": "https://w3id.org/dpv#ResearchAndDevelopment"}
            ]}],
            "prohibition": [{"action": "distribute"}]}
AIR_OPEN = {"@id": "urn:mim:offer:air-open",
            "permission": [{"action": "use"}]}


def default_catalog():
    """(catalog object as written, {offer @id: the offer object}); the
    research offer is a file (RESEARCH_FILE)."""
    catalog = {
        "@id": "urn:mim:catalog:test",
        "title": "Test catalog",
        "datasets": [
            {"@id": PARKING, "title": "Parking",
             "endpoint": "/ngsi-ld/v1/entities?type=ParkingSpot",
             "formats": ["HttpData-PULL"],
             "offers": [OPEN, P2_ONLY, EXPIRED, COUNTED, RESEARCH_FILE]},
            {"@id": AIR, "title": "Air quality",
             "endpoint": "/ngsi-ld/v1/entities?type=AirQualityObserved",
             "formats": ["HttpData-PULL"],
             "offers": [AIR_OPEN]},
        ]}
    return catalog


OFFERS = {o["@id"]: (PARKING, o)
          for o in (OPEN, P2_ONLY, EXPIRED, COUNTED, RESEARCH)}
OFFERS[AIR_OPEN["@id"]] = (AIR, AIR_OPEN)


def write_catalog(directory, catalog=None):
    """Write the catalog (default_catalog()) and its offer files under
    directory; returns the catalog file's path."""
    directory = Path(directory)
    (directory / "offers").mkdir(parents=True, exist_ok=True)
    research = {"@context": [CONTEXT], "@type": "Offer", **RESEARCH}
    (directory / RESEARCH_FILE).write_text(json.dumps(research, indent=2))
    path = directory / "catalog.json"
    path.write_text(json.dumps(catalog or default_catalog(), indent=2))
    return path


def redis_line(redis, options="timeout=500ms"):
    return "mim_redis %s:%d %s;" % (redis.host, redis.port, options)


LOOPBACK_ALLOWED = "mim_dsp_callback_allow 127.0.0.0/8 ::1;"


def start_dsp(nginx, redis, directory, catalog=None, dsp_extra="",
              http_extra="", catalog_path=None,
              callback_allow=LOOPBACK_ALLOWED):
    """Start conf/test/dsp.conf.in with the test catalog (written under
    DIRECTORY/catalog unless catalog_path is given), on redis (a
    RedisServer) or, when redis is None, in embedded mode; returns the
    NginxServer."""
    if catalog_path is None:
        catalog_path = write_catalog(Path(directory) / "catalog", catalog)
    return nginx("dsp", SIGNING_KEY=paths.CERTS / "sign-es256.key",
                 REDIS=(redis_line(redis) if redis is not None
                        else "# embedded mode: no mim_redis"),
                 CATALOG=catalog_path,
                 DSP_EXTRA=dsp_extra, HTTP_EXTRA=http_extra,
                 CALLBACK_ALLOW=callback_allow)


def neg_keys(redis):
    """The negotiation records in Redis: every mim:neg:* key but the set
    mim:neg:pending (providerPids awaiting an operator), sorted."""
    return sorted(k.decode() for k in redis.command("KEYS", "mim:neg:*")
                  if k != b"mim:neg:pending")


# ---- messages the consumer sends ---------------------------------------------

def offer_message(offer_id, **changes):
    """The offer of a ContractRequestMessage for one of OFFERS: the
    catalog's offer with @type Offer and target = its dataset; changes
    replace members (at_id for "@id", at_type for "@type"; None drops
    one)."""
    dataset, offer = OFFERS[offer_id]
    out = {"@id": offer["@id"], "@type": "Offer", "target": dataset}
    out.update(copy.deepcopy({k: v for k, v in offer.items()
                              if k != "@id"}))
    for name, value in changes.items():
        name = {"at_id": "@id", "at_type": "@type"}.get(name, name)
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def message(type_name, **members):
    """A message with the 2025-1 @context and @type; None drops a member."""
    out = {"@context": [CONTEXT], "@type": type_name}
    out.update({k: v for k, v in members.items() if v is not None})
    return out


def contract_request(offer, callback=None, consumer_pid=None,
                     provider_pid=None):
    return message("ContractRequestMessage",
                   consumerPid=consumer_pid or new_pid(),
                   providerPid=provider_pid, offer=offer,
                   callbackAddress=callback)


# ---- the consumer --------------------------------------------------------------

class Consumer:
    """A DSP consumer talking to the gateway srv with a bearer token of a
    party of the dev PKI (participant1 unless told)."""

    def __init__(self, srv, who="participant1", token=None):
        self.srv = srv
        self.party = identity.party(who)
        self.party_id = self.party.party_id
        self.token = token if token is not None else \
            identity.get_token(srv, self.party)
        self.last = None            # the last mimtest.http.Response

    def url(self, path):
        return self.srv.url("/dsp" + path)

    def send(self, method, path, body=None, content_type="application/json",
             headers=None, auth=True, validate_body=True):
        """(status, body): body parsed as JSON when it is JSON, else bytes.
        A 2xx or 4xx body that is a DSP message must be a valid one."""
        fields = {}
        if auth:
            fields["Authorization"] = "Bearer " + self.token
        if body is not None and content_type:
            fields["Content-Type"] = content_type
        fields.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        resp = http_request(method, self.url(path), headers=fields,
                            body=body)
        self.last = resp
        try:
            parsed = json.loads(resp.body) if resp.body else None
        except ValueError:
            parsed = resp.body
        if validate_body and (200 <= resp.status < 300
                              or 400 <= resp.status < 500) \
                and is_dsp(parsed):
            validate(parsed)
        return resp.status, parsed

    def post(self, path, body, **kw):
        return self.send("POST", path, body, **kw)

    # the catalog
    def catalog(self, body=None):
        return self.post("/catalog/request",
                         body if body is not None
                         else message("CatalogRequestMessage"))

    def dataset(self, dataset_id):
        return self.send("GET", "/catalog/datasets/" + dataset_id)

    # negotiations
    def request(self, offer, callback, consumer_pid=None):
        """The initial ContractRequestMessage: (status, body)."""
        return self.post("/negotiations/request",
                         contract_request(offer, callback, consumer_pid))

    def counter(self, pid, consumer_pid, offer):
        """A ContractRequestMessage on an existing negotiation."""
        return self.post("/negotiations/%s/request" % pid,
                         contract_request(offer, None, consumer_pid, pid))

    def get(self, pid):
        return self.send("GET", "/negotiations/" + pid)

    def state(self, pid):
        status, body = self.get(pid)
        assert status == 200, ("GET /dsp/negotiations/%s" % pid, status,
                               body)
        assert body["@type"] == "ContractNegotiation", body
        assert body["providerPid"] == pid, body
        return body["state"]

    def wait_state(self, pid, state, timeout=5.0):
        """Poll GET until the negotiation is in state; returns the last
        state seen (the caller asserts)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.state(pid)
            if seen == state or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)

    def verify(self, pid, consumer_pid):
        return self.post("/negotiations/%s/agreement/verification" % pid,
                         message("ContractAgreementVerificationMessage",
                                 providerPid=pid, consumerPid=consumer_pid))

    def terminate(self, pid, consumer_pid, code="cancelled",
                  reason=("no longer needed",)):
        return self.post("/negotiations/%s/termination" % pid,
                         message("ContractNegotiationTerminationMessage",
                                 providerPid=pid, consumerPid=consumer_pid,
                                 code=code,
                                 reason=list(reason) if reason else None))

    def event(self, pid, consumer_pid, event_type):
        return self.post("/negotiations/%s/events" % pid,
                         message("ContractNegotiationEventMessage",
                                 providerPid=pid, consumerPid=consumer_pid,
                                 eventType=event_type))

    def negotiate(self, offer, callback, consumer_pid=None):
        """Request offer; assert the 201 ContractNegotiation REQUESTED;
        returns (providerPid, consumerPid)."""
        consumer_pid = consumer_pid or new_pid()
        status, body = self.request(offer, callback, consumer_pid)
        assert status == 201, ("ContractRequestMessage for %s: expected 201"
                               % offer.get("@id"), status, body)
        assert body["@type"] == "ContractNegotiation", body
        assert body["consumerPid"] == consumer_pid, body
        assert body["state"] == "REQUESTED", body
        assert URN_UUID.match(body["providerPid"]), body
        return body["providerPid"], consumer_pid


    def finalize(self, callback, offer_id, path="/callback"):
        """Negotiate offer_id to FINALIZED through callback (a
        CallbackServer); returns the agreement's @id."""
        pid, cpid = self.negotiate(offer_message(offer_id),
                                   callback.url + path)
        msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
        agreement_id = msg.json["agreement"]["@id"]
        status, body = self.verify(pid, cpid)
        assert status == 200, (status, body)
        callback.wait_for("/negotiations/%s/events" % cpid)
        assert self.wait_state(pid, "FINALIZED") == "FINALIZED"
        return agreement_id

    # transfers
    def transfer_request(self, agreement_id, callback, consumer_pid=None,
                         fmt="HttpData-PULL", **changes):
        """POST transfers/request: (status, body)."""
        body = message("TransferRequestMessage",
                       consumerPid=consumer_pid or new_pid(),
                       agreementId=agreement_id, format=fmt,
                       callbackAddress=callback)
        for name, value in changes.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return self.post("/transfers/request", body)

    def transfer(self, agreement_id, callback, consumer_pid=None):
        """Request a transfer; assert the 201 TransferProcess REQUESTED;
        returns (providerPid, consumerPid)."""
        consumer_pid = consumer_pid or new_pid()
        status, body = self.transfer_request(agreement_id, callback,
                                             consumer_pid)
        assert status == 201, ("TransferRequestMessage: expected 201",
                               status, body)
        assert body["@type"] == "TransferProcess", body
        assert body["consumerPid"] == consumer_pid, body
        assert body["state"] in ("REQUESTED", "STARTED"), body
        assert URN_UUID.match(body["providerPid"]), body
        return body["providerPid"], consumer_pid

    def tp_get(self, pid):
        return self.send("GET", "/transfers/" + pid)

    def tp_state(self, pid):
        status, body = self.tp_get(pid)
        assert status == 200, ("GET /dsp/transfers/%s" % pid, status, body)
        assert body["@type"] == "TransferProcess", body
        assert body["providerPid"] == pid, body
        return body["state"]

    def wait_tp_state(self, pid, state, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            seen = self.tp_state(pid)
            if seen == state or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)

    def tp_message(self, pid, consumer_pid, what, **members):
        """POST transfers/:pid/<what> (start, completion, suspension,
        termination) with its message."""
        type_name = {"start": "TransferStartMessage",
                     "completion": "TransferCompletionMessage",
                     "suspension": "TransferSuspensionMessage",
                     "termination": "TransferTerminationMessage"}[what]
        return self.post("/transfers/%s/%s" % (pid, what),
                         message(type_name, providerPid=pid,
                                 consumerPid=consumer_pid, **members))


def data_address(msg):
    """(endpoint, token) of a TransferStartMessage for an HTTP pull."""
    address = msg.json["dataAddress"]
    assert address["@type"] == "DataAddress", address
    assert address["endpointType"] == "https://w3id.org/idsa/v4.1/HTTP", \
        address
    props = {p["name"]: p["value"] for p in address["endpointProperties"]}
    assert props.get("authType") == "bearer", address
    return address["endpoint"], props["authorization"]


# ---- the admin API (mim_dsp_admin, operator decisions) -------------------------

def admin(srv, method, path, body=None):
    """(status, parsed body) of /dsp-admin + path (no token: allow/deny)."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    resp = http_request(method, srv.url("/dsp-admin" + path),
                        headers=headers, body=body)
    try:
        parsed = json.loads(resp.body) if resp.body else None
    except ValueError:
        parsed = resp.body
    return resp.status, parsed


# ---- the consumer's callback endpoint -------------------------------------------

class Message:
    """One POST received by a CallbackServer."""

    def __init__(self, method, raw_path, headers, body, answered):
        self.method = method
        self.raw_path = raw_path            # as on the wire
        self.path = unquote(raw_path)       # percent-decoded
        self.headers = headers              # list of (name, value)
        self.body = body
        self.answered = answered            # the status we answered
        self.time = time.monotonic()
        try:
            self.json = json.loads(body)
        except ValueError as exc:
            self.json = None
            self.errors = ["body is not JSON: %s" % exc]
        else:
            self.errors = schema_errors(self.json) if isinstance(
                self.json, dict) else ["body is not a JSON object"]

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%s %s -> %d: %s>" % (self.method, self.raw_path,
                                      self.answered, self.body[:300])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mimtest-callback"

    def log_message(self, *args):
        pass

    def _read_body(self):
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_POST(self):
        owner = self.server.owner
        body = self._read_body()
        status = owner._status_for(unquote(self.path))
        owner._record(Message("POST", self.path, list(self.headers.items()),
                              body, status))
        self._answer(status)

    def do_GET(self):
        self._answer(405)

    do_PUT = do_DELETE = do_PATCH = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        self.owner._connected()
        request.settimeout(5.0)
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request,
                                                       server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.owner._tls_failure(exc)
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.ssl_context is not None:
                try:
                    request.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        self.owner.handler_errors.append(str(sys.exc_info()[1]))


def make_tls_cert(directory, ca="untrusted-ca", hosts=("localhost",),
                  ips=("127.0.0.1",)):
    """A server certificate (and key) for the loopback names, issued by
    certs/dev/CA (the untrusted CA by default): (cert path, key path)."""
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key = serialization.load_pem_private_key(
        (paths.CERTS / ("%s.key" % ca)).read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(
        (paths.CERTS / ("%s.crt" % ca)).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(h) for h in hosts] + \
        [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, hosts[0] if hosts else ips[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cb-tls.crt", directory / "cb-tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                          + ca_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


class CallbackServer:
    """The consumer's callback endpoint: a threaded HTTP(S) server on
    127.0.0.1 (a free port) that records every POST and answers 200, or
    what fail() says for matching paths.

        with CallbackServer(tls=True) as cb:         # certs/dev/tls-chain
            callback = cb.url + "/callback"
            msg = cb.wait_for("/negotiations/%s/agreement" % cpid)

    tls: False, True (certs/dev/tls-chain.crt + tls.key: SANs localhost
    and 127.0.0.1, issued under the dev root the gateway trusts), or a
    (cert chain, key) pair of paths.  host: the name used in url
    ("localhost" to make the gateway check that name).  Each body is checked against the
    DSP schemas: msg.errors (wait_for() asserts there are none)."""

    def __init__(self, tls=False, host=LOOPBACK):
        self.tls = tls
        self.host = host            # in url only: we listen on 127.0.0.1
        self.messages = []
        self.connections = 0        # accepted, whatever happened next
        self.tls_failures = []      # handshakes that failed on our side
        self.handler_errors = []
        self._rules = []
        self._cond = threading.Condition()
        self._server = None
        self._thread = None

    # --- life cycle --------------------------------------------------------

    def start(self):
        server = _Server((LOOPBACK, 0), _Handler, bind_and_activate=True)
        server.owner = self
        server.ssl_context = None
        if self.tls:
            if self.tls is True:
                cert, key = paths.CERTS / "tls-chain.crt", \
                    paths.CERTS / "tls.key"
            else:
                cert, key = self.tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(cert), str(key))
            server.ssl_context = ctx
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        """http(s)://HOST:PORT (no trailing slash)."""
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host,
                               self.port)

    # --- answers -----------------------------------------------------------

    def fail(self, pattern, status=503, times=None):
        """Answer status to POSTs whose (decoded) path matches the regex
        pattern: the first `times` of them, or all when times is None."""
        with self._cond:
            self._rules.append([re.compile(pattern), status, times])

    def _status_for(self, path):
        with self._cond:
            for rule in self._rules:
                regex, status, times = rule
                if regex.search(path) and (times is None or times > 0):
                    if times is not None:
                        rule[2] -= 1
                    return status
        return 200

    def _record(self, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def _connected(self):
        with self._cond:
            self.connections += 1

    def _tls_failure(self, exc):
        with self._cond:
            self.tls_failures.append(str(exc))
            self._cond.notify_all()

    # --- what arrived ------------------------------------------------------

    def received(self, path_suffix="", answered=None):
        """Messages whose decoded path ends with path_suffix (and that we
        answered with status `answered`, when given)."""
        with self._cond:
            return [m for m in self.messages
                    if m.path.endswith(path_suffix)
                    and (answered is None or m.answered == answered)]

    def wait_for(self, path_suffix, timeout=5.0, answered=None,
                 valid=True):
        """The first POST to a path ending with path_suffix (decoded),
        waiting up to timeout seconds; asserts it came and, unless
        valid=False, that its body is a valid DSP message."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages
                         if m.path.endswith(path_suffix)
                         and (answered is None or m.answered == answered)]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
        assert found, ("no POST to ...%s within %.1fs; received: %r%s"
                       % (path_suffix, timeout, self.messages,
                          "; TLS failures: %r" % self.tls_failures
                          if self.tls_failures else ""))
        msg = found[0]
        if valid:
            assert not msg.errors, ("invalid DSP message POSTed to %s:\n  %s"
                                    "\n%s" % (msg.raw_path,
                                              "\n  ".join(msg.errors),
                                              msg.body[:2000]))
        return msg

    def wait_quiet(self, seconds):
        """Messages that arrive within seconds (for 'nothing is sent')."""
        time.sleep(seconds)
        return list(self.messages)

    def assert_all_valid(self):
        bad = [(m.raw_path, m.errors) for m in self.messages if m.errors]
        assert not bad, "invalid DSP messages received: %r" % bad
