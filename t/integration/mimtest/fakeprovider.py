"""A minimal Dataspace Protocol 2025-1 provider written from the spec alone,
to check that `mim consumer` interoperates with a provider that is not the
gateway (t/integration/test_mim_consumer.py).

    with FakeProvider() as p:                  # http://127.0.0.1:PORT
        p.url                                  # the root (well-known here)
        p.base                                 # p.url + "/api/dsp"
        ... run `mim consumer run p.url --dataset urn:fake:dataset:air`
        p.assert_all_valid()                   # every message it received

It serves the version metadata, an iSHARE-style token endpoint (which
checks the client assertion on its own: header, x5c chain to the dev CA,
signature, claims), the catalog, contract negotiation (the agreement and
the FINALIZED event are POSTed to the consumer's callbacks), transfers
(TransferStartMessage with an HTTP DataAddress and a bearer token) and the
data endpoint, which wants that token.  Every message it receives is
checked against the official schemas (shared/tools/dsp_validate.py).

Misbehaviour, to see the consumer refuse it:
    p.mutate["agreement"] = fn     # fn(message dict) -> message to send;
                                   # kinds: catalog, negotiation,
                                   # agreement, event, start, transfer
    p.behaviour["negotiation"] = "terminate" | "offer" | "silent" | "sync"
    p.behaviour["transfer"] = "terminate" | "silent" | "sync"
    p.fail["negotiations/request"] = (status, body dict)

FakeProvider(tls=True) serves HTTPS with certs/dev/tls-chain.crt (issued
under the dev root of certs/dev/ca-bundle.crt); callbacks it sends are
plain HTTP, as the consumer's listener is.
"""

import copy
import datetime
import http.client
import json
import secrets
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from . import paths
from .dsp import CONTEXT, schema_errors
from .identity import ASSERTION_TYPE, b64url_decode
from .net import LOOPBACK
from .x509 import certs_from_x5c, load_pem_certs, verify_chain

PROVIDER_ID = "EU.EORI.NLFAKEPROVIDER"
BASE_PATH = "/api/dsp"
HTTP_TYPE = "https://w3id.org/idsa/v4.1/HTTP"

AIR = "urn:fake:dataset:air"
NOISE = "urn:fake:dataset:noise"
AIR_OPEN = "urn:fake:offer:air-open"
AIR_RESEARCH = "urn:fake:offer:air-research"
NOISE_OPEN = "urn:fake:offer:noise-open"

DATA = {AIR: [{"id": "urn:ngsi-ld:AirQualityObserved:1",
               "type": "AirQualityObserved", "NO2": {"value": 22}}],
        NOISE: [{"id": "urn:ngsi-ld:NoiseLevelObserved:1",
                 "type": "NoiseLevelObserved", "LAeq": {"value": 51}}]}


def catalog_offers():
    """{dataset: [offer objects as the catalog shows them]}"""
    return {
        AIR: [{"@id": AIR_OPEN, "@type": "Offer",
               "permission": [{"action": "use"}]},
              {"@id": AIR_RESEARCH, "@type": "Offer",
               "permission": [{"action": "use", "constraint": [
                   {"leftOperand": "purpose", "operator": "eq",
                    "rightOperand": "https://w3id.org/dpv#Research"}]}]}],
        NOISE: [{"@id": NOISE_OPEN, "@type": "Offer",
                 "permission": [{"action": "use"}]}],
    }


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def new_pid():
    return "urn:uuid:%s" % uuid.uuid4()


def message(type_name, **members):
    out = {"@context": [CONTEXT], "@type": type_name}
    out.update({k: v for k, v in members.items() if v is not None})
    return out


class Received:
    """One request the provider got."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None
        self.errors = []
        if isinstance(self.json, dict) and "@type" in self.json:
            self.errors = schema_errors(self.json)

    def __repr__(self):
        return "<%s %s %s>" % (self.method, self.path, self.body[:200])


class Sent:
    """One callback the provider POSTed, and what the consumer answered."""

    def __init__(self, url, body, status, answer):
        self.url = url
        self.body = body
        self.status = status        # None: no connection / no answer
        self.answer = answer

    def __repr__(self):
        return "<POST %s -> %r>" % (self.url, self.status)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dsp-provider"

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status, obj=None, ctype="application/json",
                headers=None):
        body = b""
        if obj is not None:
            body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.owner._dispatch(self, "GET")

    def do_POST(self):
        self.server.owner._dispatch(self, "POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeProvider:
    def __init__(self, require_token=False, data_token=None, tls=False):
        self.require_token = require_token
        self.tls = tls              # certs/dev/tls-chain.crt (dev root)
        self.access_tokens = set()
        self.data_token = data_token or secrets.token_urlsafe(24)
        self.offers = catalog_offers()
        self.received = []
        self.sent = []
        self.negotiations = {}       # providerPid -> record
        self.agreements = {}         # agreement @id -> agreement
        self.transfers = {}          # providerPid -> record
        self.data_requests = []      # (path, headers) of data GETs
        self.assertions = []         # (header, claims) of client assertions
        self.mutate = {}
        self.behaviour = {}
        self.fail = {}
        self._lock = threading.Condition()
        self._server = None
        self._threads = []

    # ---- life cycle ------------------------------------------------------

    def start(self):
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.owner = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(paths.CERTS / "tls-chain.crt"),
                                str(paths.CERTS / "tls.key"))
            self._server.socket = ctx.wrap_socket(self._server.socket,
                                                  server_side=True)
        threading.Thread(target=self._server.serve_forever,
                         kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", LOOPBACK,
                               self._server.server_address[1])

    @property
    def base(self):
        return self.url + BASE_PATH

    # ---- what happened ------------------------------------------------------

    def requests(self, path_part=""):
        with self._lock:
            return [r for r in self.received if path_part in r.path]

    def callbacks(self, path_part=""):
        with self._lock:
            return [s for s in self.sent if path_part in s.url]

    def assert_all_valid(self):
        bad = [(r.path, r.errors) for r in self.requests() if r.errors]
        assert not bad, "invalid DSP messages received: %r" % bad

    def wait_for(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def seed_agreement(self, dataset=AIR, assignee="EU.EORI.NL000000001"):
        """A FINALIZED agreement for dataset (as if negotiated); its id."""
        agreement = {"@id": new_pid(), "@type": "Agreement",
                     "target": dataset, "assigner": PROVIDER_ID,
                     "assignee": assignee, "timestamp": now_text(),
                     "permission": [{"action": "use"}]}
        with self._lock:
            self.agreements[agreement["@id"]] = agreement
        return agreement["@id"]

    # ---- dispatch -----------------------------------------------------------

    def _dispatch(self, h, method):
        body = self._read(h, method)
        rec = Received(method, unquote(urlsplit(h.path).path),
                       dict(h.headers.items()), body)
        with self._lock:
            self.received.append(rec)
            self._lock.notify_all()
        path = rec.path
        if path == "/.well-known/dspace-version" and method == "GET":
            return h._answer(200, {"protocolVersions": [
                {"version": "2024-1", "path": "/api/old", "binding": "HTTPS"},
                {"version": "2025-1", "path": BASE_PATH + "/",
                 "binding": "HTTPS", "identifierType": "EORI"}]})
        if path == "/connect/token" and method == "POST":
            return self._token(h, body)
        if path.startswith("/data/") and method == "GET":
            return self._data(h, path)
        if not path.startswith(BASE_PATH + "/"):
            return h._answer(404, {"error": "not found"})
        if self.require_token and not self._authorized(h):
            return h._answer(401, {"error": "invalid_token"},
                             headers={"WWW-Authenticate": "Bearer"})
        what = path[len(BASE_PATH) + 1:]
        if what in self.fail:
            status, obj = self.fail[what]
            return h._answer(status, obj)
        if rec.errors:
            return h._answer(400, self._error(what, rec.json, rec.errors))
        return self._route(h, method, what, rec.json)

    @staticmethod
    def _read(h, method):
        return h._body() if method == "POST" else b""

    def _authorized(self, h):
        auth = h.headers.get("Authorization") or ""
        return auth.startswith("Bearer ") and \
            auth[7:] in self.access_tokens

    def _error(self, what, obj, reasons):
        obj = obj if isinstance(obj, dict) else {}
        kind = "TransferError" if what.startswith("transfers") else \
            "ContractNegotiationError" if what.startswith("negotiations") \
            else "CatalogError"
        if kind == "CatalogError":
            return message(kind, code="400", reason=list(reasons))
        return message(kind, providerPid=obj.get("providerPid") or "unknown",
                       consumerPid=obj.get("consumerPid") or "unknown",
                       code="400", reason=list(reasons))

    def _route(self, h, method, what, msg):
        parts = what.split("/")
        if what == "catalog/request" and method == "POST":
            return h._answer(200, self._out("catalog", self._catalog()))
        if what == "negotiations/request" and method == "POST":
            return self._neg_request(h, msg)
        if what == "transfers/request" and method == "POST":
            return self._tp_request(h, msg)
        if parts[0] == "negotiations" and len(parts) >= 3:
            return self._neg_message(h, parts[1], "/".join(parts[2:]), msg)
        if parts[0] == "transfers" and len(parts) == 3:
            return self._tp_message(h, parts[1], parts[2], msg)
        return h._answer(404, {"error": "no such endpoint"})

    def _out(self, kind, msg):
        fn = self.mutate.get(kind)
        return fn(copy.deepcopy(msg)) if fn else msg

    # ---- token endpoint -----------------------------------------------------

    def _token(self, h, body):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            self._check_assertion(form)
        except AssertionError as exc:
            return h._answer(400, {"error": "invalid_client",
                                   "error_description": str(exc)})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens.add(token)
        return h._answer(200, {"access_token": token, "token_type": "Bearer",
                               "expires_in": 3600})

    def _check_assertion(self, form):
        """The iSHARE rules, checked with python3-cryptography."""
        assert form.get("grant_type") == "client_credentials", form
        assert "iSHARE" in form.get("scope", "").split(), form
        assert form.get("client_assertion_type") == ASSERTION_TYPE, form
        token = form["client_assertion"]
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(claims_b64))
        with self._lock:
            self.assertions.append((header, claims))
        assert sorted(header) == ["alg", "typ", "x5c"], \
            "header members %s" % sorted(header)
        assert header["alg"] == "RS256" and header["typ"] == "JWT", header
        chain = certs_from_x5c(header["x5c"])
        verify_chain(chain, load_pem_certs(paths.CERTS / "ca.crt"))
        chain[0].public_key().verify(
            b64url_decode(sig_b64), ("%s.%s" % (head_b64, claims_b64))
            .encode(), padding.PKCS1v15(), hashes.SHA256())
        serial = chain[0].subject.get_attributes_for_oid(
            cx509.NameOID.SERIAL_NUMBER)[0].value
        client_id = form.get("client_id")
        assert claims["iss"] == claims["sub"] == client_id == serial, \
            "iss %s sub %s client_id %s certificate %s" % (
                claims["iss"], claims["sub"], client_id, serial)
        assert claims["aud"] == PROVIDER_ID, "aud %s is not us" % claims["aud"]
        assert claims["exp"] - claims["iat"] == 30, claims
        assert abs(claims["iat"] - time.time()) < 60, claims
        assert claims.get("jti"), claims

    # ---- catalog ------------------------------------------------------------

    def _catalog(self):
        service = {"@id": "urn:fake:service", "@type": "DataService",
                   "endpointURL": self.base}
        datasets = []
        for dataset, offers in self.offers.items():
            datasets.append({
                "@id": dataset, "@type": "Dataset",
                "title": dataset.rsplit(":", 1)[-1],
                "hasPolicy": copy.deepcopy(offers),
                "distribution": [{"@type": "Distribution",
                                  "format": "HttpData-PULL",
                                  "accessService": "urn:fake:service"}]})
        return message("Catalog", **{"@id": "urn:fake:catalog",
                                     "participantId": PROVIDER_ID,
                                     "service": [service],
                                     "dataset": datasets})

    # ---- negotiation --------------------------------------------------------

    def _find_offer(self, offer):
        for dataset, offers in self.offers.items():
            for o in offers:
                if o["@id"] == offer.get("@id"):
                    return dataset, o
        return None, None

    def _neg_request(self, h, msg):
        if "providerPid" in msg or "callbackAddress" not in msg:
            return h._answer(400, self._error("negotiations", msg,
                                              ["initial request expected"]))
        dataset, offer = self._find_offer(msg["offer"])
        if offer is None or msg["offer"].get("target") != dataset:
            return h._answer(400, self._error("negotiations", msg,
                                              ["unknown offer or target"]))
        pid = new_pid()
        rec = {"providerPid": pid, "consumerPid": msg["consumerPid"],
               "callback": msg["callbackAddress"], "state": "REQUESTED",
               "dataset": dataset, "offer": offer}
        with self._lock:
            self.negotiations[pid] = rec
        answer = self._out("negotiation", message(
            "ContractNegotiation", providerPid=pid,
            consumerPid=msg["consumerPid"], state="REQUESTED"))
        how = self.behaviour.get("negotiation")
        if how == "sync":
            # the agreement goes out before the 201: a consumer must
            # already listen and must not wait for its answer first
            self._agree(rec)
            return h._answer(201, answer)
        h._answer(201, answer)
        if how == "terminate":
            self._later(self._neg_terminate, rec)
        elif how == "offer":
            self._later(self._counter_offer, rec)
        elif how != "silent":
            self._later(self._agree, rec)

    def _agree(self, rec):
        agreement = {"@id": new_pid(), "@type": "Agreement",
                     "target": rec["dataset"], "assigner": PROVIDER_ID,
                     "assignee": "consumer", "timestamp": now_text()}
        for kind in ("permission", "prohibition", "obligation"):
            if kind in rec["offer"]:
                agreement[kind] = copy.deepcopy(rec["offer"][kind])
        rec["agreement"] = agreement
        rec["state"] = "AGREED"
        self._callback(rec, "/negotiations/%s/agreement", self._out(
            "agreement", message("ContractAgreementMessage",
                                 providerPid=rec["providerPid"],
                                 consumerPid=rec["consumerPid"],
                                 agreement=agreement)))

    def _neg_terminate(self, rec):
        rec["state"] = "TERMINATED"
        self._callback(rec, "/negotiations/%s/termination", message(
            "ContractNegotiationTerminationMessage",
            providerPid=rec["providerPid"], consumerPid=rec["consumerPid"],
            code="policy", reason=["not for you", {"message": "no"}]))

    def _counter_offer(self, rec):
        offer = dict(copy.deepcopy(rec["offer"]), target=rec["dataset"])
        offer["@id"] = "urn:fake:offer:counter"
        rec["state"] = "OFFERED"
        self._callback(rec, "/negotiations/%s/offers", message(
            "ContractOfferMessage", providerPid=rec["providerPid"],
            consumerPid=rec["consumerPid"], offer=offer))

    def _finalize(self, rec):
        rec["state"] = "FINALIZED"
        with self._lock:
            self.agreements[rec["agreement"]["@id"]] = rec["agreement"]
        self._callback(rec, "/negotiations/%s/events", self._out(
            "event", message("ContractNegotiationEventMessage",
                             providerPid=rec["providerPid"],
                             consumerPid=rec["consumerPid"],
                             eventType="FINALIZED")))

    def _neg_message(self, h, pid, what, msg):
        rec = self.negotiations.get(pid)
        if rec is None:
            return h._answer(404, self._error("negotiations", msg,
                                              ["no such negotiation"]))
        if msg.get("consumerPid") != rec["consumerPid"]:
            return h._answer(400, self._error("negotiations", msg,
                                              ["wrong consumerPid"]))
        if what == "agreement/verification":
            if rec["state"] != "AGREED":
                return h._answer(400, self._error(
                    "negotiations", msg, ["not AGREED: %s" % rec["state"]]))
            rec["state"] = "VERIFIED"
            h._answer(200, message("ContractNegotiation", providerPid=pid,
                                   consumerPid=rec["consumerPid"],
                                   state="VERIFIED"))
            self._later(self._finalize, rec)
            return None
        if what == "termination":
            rec["state"] = "TERMINATED"
            return h._answer(200)
        return h._answer(400, self._error("negotiations", msg,
                                          ["not supported: " + what]))

    # ---- transfer -----------------------------------------------------------

    def _tp_request(self, h, msg):
        agreement = self.agreements.get(msg["agreementId"])
        if agreement is None or msg["format"] != "HttpData-PULL":
            return h._answer(400, self._error(
                "transfers", msg, ["unknown agreement or format"]))
        pid = new_pid()
        rec = {"providerPid": pid, "consumerPid": msg["consumerPid"],
               "callback": msg["callbackAddress"], "state": "REQUESTED",
               "dataset": agreement["target"]}
        with self._lock:
            self.transfers[pid] = rec
        answer = self._out("transfer", message(
            "TransferProcess", providerPid=pid,
            consumerPid=msg["consumerPid"], state="REQUESTED"))
        how = self.behaviour.get("transfer")
        if how == "sync":
            self._start(rec)
            return h._answer(201, answer)
        h._answer(201, answer)
        if how == "terminate":
            self._later(self._tp_terminate, rec)
        elif how != "silent":
            self._later(self._start, rec)

    def _start(self, rec):
        rec["state"] = "STARTED"
        address = {"@type": "DataAddress", "endpointType": HTTP_TYPE,
                   "endpoint": "%s/data/%s" % (
                       self.url, quote(rec["dataset"], safe="")),
                   "endpointProperties": [
                       {"@type": "EndpointProperty", "name": "authorization",
                        "value": self.data_token},
                       {"@type": "EndpointProperty", "name": "authType",
                        "value": "bearer"}]}
        self._callback(rec, "/transfers/%s/start", self._out(
            "start", message("TransferStartMessage",
                             providerPid=rec["providerPid"],
                             consumerPid=rec["consumerPid"],
                             dataAddress=address)))

    def _tp_terminate(self, rec):
        rec["state"] = "TERMINATED"
        self._callback(rec, "/transfers/%s/termination", message(
            "TransferTerminationMessage", providerPid=rec["providerPid"],
            consumerPid=rec["consumerPid"], code="gone",
            reason=["dataset withdrawn"]))

    def _tp_message(self, h, pid, what, msg):
        rec = self.transfers.get(pid)
        if rec is None:
            return h._answer(404, self._error("transfers", msg,
                                              ["no such transfer"]))
        if what == "completion" and rec["state"] == "STARTED":
            rec["state"] = "COMPLETED"
            return h._answer(200)
        if what == "termination" and rec["state"] not in (
                "COMPLETED", "TERMINATED"):
            rec["state"] = "TERMINATED"
            return h._answer(200)
        return h._answer(400, self._error(
            "transfers", msg, ["%s in state %s" % (what, rec["state"])]))

    # ---- data ---------------------------------------------------------------

    def _data(self, h, path):
        with self._lock:
            self.data_requests.append((h.path, dict(h.headers.items())))
        if h.headers.get("Authorization") != "Bearer " + self.data_token:
            return h._answer(401, {"error": "invalid_token",
                                   "error_description": "no or bad token"},
                             headers={"WWW-Authenticate":
                                      'Bearer error="invalid_token"'})
        dataset = unquote(path[len("/data/"):].split("/")[0])
        if dataset not in DATA:
            return h._answer(404, {"error": "no such dataset"})
        return h._answer(200, DATA[dataset], ctype="application/ld+json")

    # ---- callbacks ----------------------------------------------------------

    def _later(self, fn, rec, delay=0.05):
        def run():
            time.sleep(delay)
            fn(rec)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        with self._lock:
            self._threads.append(t)

    def _callback(self, rec, path_fmt, msg):
        """POST msg to the consumer: <callbackAddress> + path."""
        url = rec["callback"].rstrip("/") + path_fmt % quote(
            rec["consumerPid"], safe=":")
        parts = urlsplit(url)
        body = json.dumps(msg).encode()
        status, answer = None, b""
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                              timeout=5)
            conn.request("POST", parts.path, body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            status, answer = resp.status, resp.read()
            conn.close()
        except OSError:
            pass
        with self._lock:
            self.sent.append(Sent(url, msg, status, answer))
            self._lock.notify_all()

