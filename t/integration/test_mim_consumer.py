"""`mim consumer` (docs/consumer.md), the DSP 2025-1 consumer:

  - against an independent provider written from the spec in Python
    (mimtest.fakeprovider): every subcommand, discovery, iSHARE tokens
    checked by the provider on its own, TLS with --ca, and providers that
    misbehave - invalid messages, terminations, counter-offers, silence,
    errors - which the consumer must refuse with the reason and exit 1;
  - its callback listener, driven with raw HTTP requests;
  - against the gateway (conf/test/dsp.conf.in): catalog, negotiation,
    transfer, GET, run; and with its agreement-gated data plane
    (conf/test/agreement.conf.in): the data, and the denials as the
    consumer reports them.

Every message the fake provider receives is checked against the official
schemas (p.assert_all_valid()).  Run with /usr/bin/python3 -m pytest.
"""

import json
import socket
import subprocess
import time

import pytest

from mimtest import paths
from mimtest.dsp import (
    AIR as GW_AIR, GATEWAY_ID, PARKING, URN_UUID, Consumer, redis_line,
    schema_errors, start_dsp, write_catalog)
from mimtest.fakeprovider import (
    AIR, AIR_OPEN, AIR_RESEARCH, DATA, NOISE, NOISE_OPEN, PROVIDER_ID,
    FakeProvider, new_pid)
from mimtest.net import LOOPBACK, free_port

CERT = paths.CERTS / "participant1-chain.crt"
KEY = paths.CERTS / "participant1.key"
CA = paths.CERTS / "ca-bundle.crt"
P1 = "EU.EORI.NL000000001"


@pytest.fixture(scope="session")
def tool(dev_certs):
    if not paths.MIM_TOOL.is_file():
        pytest.fail("%s does not exist: run make first" % paths.MIM_TOOL,
                    pytrace=False)
    return paths.MIM_TOOL


def mim(tool, *args, timeout=60):
    return subprocess.run([str(tool), "consumer"] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def failed(proc, *words):
    """Exit 1 with each of words in the reason (stderr)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "mim: consumer: " in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    return proc


def fields(stdout):
    """The "name value" lines of the human output: {name: [values]}."""
    out = {}
    for line in stdout.splitlines():
        name, _, value = line.strip().partition(" ")
        out.setdefault(name, []).append(value.strip())
    return out


@pytest.fixture
def provider():
    with FakeProvider() as p:
        yield p
        p.assert_all_valid()


def only(items):
    assert len(items) == 1, items
    return items[0]


def callbacks(provider, part="", n=1):
    """The callbacks the provider sent to paths with part, once n of them
    have their answer recorded (the consumer may have exited before the
    provider's thread read its answer)."""
    provider.wait_for(lambda: len(provider.callbacks(part)) >= n)
    return provider.callbacks(part)


# ---- usage ------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    [],
    ["frobnicate", "http://x"],
    ["catalog"],
    ["catalog", "http://a", "http://b"],
    ["catalog", "http://x", "--offer", "o"],
    ["catalog", "http://x", "--bogus"],
    ["negotiate", "http://x"],
    ["transfer", "http://x"],
    ["run", "http://x"],
    ["catalog", "http://x", "--cert", str(CERT)],
    ["catalog", "http://x", "--cert", str(CERT), "--key", str(KEY)],
    ["catalog", "http://x", "--token", "t", "--cert", str(CERT), "--key",
     str(KEY), "--provider-id", "X"],
    ["catalog", "http://x", "--timeout", "0"],
    ["catalog", "http://x", "--timeout", "abc"],
    ["get", "http://x", "--offer", "o"],
    ["run", "http://x", "--dataset", "d", "--purpose-header", "A B"],
])
def test_usage_errors_exit_2(tool, args):
    proc = mim(tool, *args)
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"],
                                  ["get", "-h"]])
def test_help(tool, args):
    proc = ok(mim(tool, *args))
    assert "mim consumer run URL --dataset ID" in proc.stdout
    assert "exit status" in proc.stdout


def test_mim_help_names_consumer(tool):
    proc = subprocess.run([str(tool), "help"], stdout=subprocess.PIPE,
                          text=True)
    assert "consumer" in proc.stdout


# ---- the fake provider: catalog and discovery -------------------------------

def test_catalog_from_the_root(tool, provider):
    proc = ok(mim(tool, "catalog", provider.url))
    out = fields(proc.stdout)
    assert out["dataset"] == [AIR, NOISE]
    assert out["offer"] == [AIR_OPEN, AIR_RESEARCH, NOISE_OPEN]
    assert out["format"] == ["HttpData-PULL", "HttpData-PULL"]
    assert "catalog: 2 datasets" in proc.stderr
    assert "version: DSP 2025-1 at %s" % provider.base in proc.stderr
    # discovery picked the 2025-1 entry, not the 2024-1 one before it
    assert len(provider.requests("/.well-known/dspace-version")) == 1
    req = only(provider.requests("/catalog/request"))
    assert req.json["@type"] == "CatalogRequestMessage"
    assert req.headers.get("Content-Type") == "application/json"
    assert "Authorization" not in req.headers      # no identity given


@pytest.mark.parametrize("how", ["base", "base/", "well-known"])
def test_catalog_url_forms(tool, provider, how):
    url = {"base": provider.base, "base/": provider.base + "/",
           "well-known": provider.url + "/.well-known/dspace-version"}[how]
    proc = ok(mim(tool, "catalog", url, "--json"))
    catalog = json.loads(proc.stdout)
    assert schema_errors(catalog, "Catalog") == []
    assert catalog == provider._catalog()
    assert len(provider.requests("/.well-known/")) == (
        1 if how == "well-known" else 0)


def test_catalog_invalid_is_refused(tool, provider):
    def no_policy(cat):
        del cat["dataset"][0]["hasPolicy"]
        return cat
    provider.mutate["catalog"] = no_policy
    failed(mim(tool, "catalog", provider.url), "catalog", "invalid Catalog",
           "hasPolicy")


def test_catalog_error_is_quoted(tool, provider):
    provider.fail["catalog/request"] = (403, {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "CatalogError", "code": "no-access",
        "reason": ["Catalog not provisioned for this requester."]})
    failed(mim(tool, "catalog", provider.url), "HTTP 403 CatalogError",
           "code no-access", "not provisioned")


def test_version_without_2025_1(tool, provider):
    provider._dispatch_orig = provider._dispatch

    def dispatch(h, method):
        if h.path == "/.well-known/dspace-version":
            return h._answer(200, {"protocolVersions": [
                {"version": "2024-1", "path": "/old", "binding": "HTTPS"}]})
        return provider._dispatch_orig(h, method)
    provider._dispatch = dispatch
    failed(mim(tool, "catalog", provider.url), "no DSP 2025-1")


# ---- negotiation ------------------------------------------------------------

def test_negotiate(tool, provider):
    proc = ok(mim(tool, "negotiate", provider.url, "--offer", AIR_RESEARCH))
    out = fields(proc.stdout)
    rec = only(list(provider.negotiations.values()))
    assert rec["state"] == "FINALIZED"
    assert out["agreement"] == [rec["agreement"]["@id"]]
    assert out["negotiation"] == [rec["providerPid"]]
    assert out["dataset"] == [AIR]
    assert ("negotiation %s: REQUESTED -> AGREED -> VERIFIED -> FINALIZED, "
            "agreement %s" % (rec["providerPid"], rec["agreement"]["@id"])
            in proc.stderr), proc.stderr
    # what the provider got: the offer with its target, a fresh
    # consumerPid, our listener as callbackAddress
    req = only(provider.requests("/negotiations/request")).json
    assert req["offer"]["@id"] == AIR_RESEARCH
    assert req["offer"]["target"] == AIR
    assert req["offer"]["permission"] == provider.offers[AIR][1][
        "permission"]
    assert URN_UUID.match(req["consumerPid"]), req
    assert req["callbackAddress"].startswith("http://127.0.0.1:")
    assert "providerPid" not in req
    verification = only(provider.requests("/agreement/verification")).json
    assert verification["@type"] == "ContractAgreementVerificationMessage"
    assert verification["providerPid"] == rec["providerPid"]
    assert verification["consumerPid"] == req["consumerPid"]
    # the consumer answered 200 to both callbacks
    assert [s.status for s in callbacks(provider, n=2)] == [200, 200]


def test_negotiate_json(tool, provider):
    proc = ok(mim(tool, "negotiate", provider.base, "--offer", NOISE_OPEN,
                  "--dataset", NOISE, "--json"))
    result = json.loads(proc.stdout)
    rec = only(list(provider.negotiations.values()))
    assert result["state"] == "FINALIZED"
    assert result["providerPid"] == rec["providerPid"]
    assert result["agreement"] == rec["agreement"]


@pytest.mark.parametrize("args,words", [
    (["--offer", "urn:fake:offer:nope"], ["not in the catalog"]),
    (["--offer", AIR_OPEN, "--dataset", "urn:fake:dataset:nope"],
     ["dataset urn:fake:dataset:nope is not in the catalog"]),
    (["--offer", NOISE_OPEN, "--dataset", AIR], ["no such offer"]),
])
def test_negotiate_unknown_offer(tool, provider, args, words):
    failed(mim(tool, "negotiate", provider.url, *args), *words)
    assert provider.negotiations == {}


def test_provider_terminates_the_negotiation(tool, provider):
    provider.behaviour["negotiation"] = "terminate"
    proc = failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN),
                  "terminated the negotiation", "code policy",
                  "not for you", '{"message":"no"}')
    assert "REQUESTED -> TERMINATED" in proc.stderr
    assert provider.requests("/termination") == []  # nothing to answer


def test_counter_offer_is_terminated(tool, provider):
    provider.behaviour["negotiation"] = "offer"
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN),
           "counter-offer", "urn:fake:offer:counter")
    rec = only(list(provider.negotiations.values()))
    assert rec["state"] == "TERMINATED"
    term = only(provider.requests("/termination")).json
    assert term["@type"] == "ContractNegotiationTerminationMessage"
    assert term["code"] == "consumer-abort"
    assert "counter-offer" in term["reason"][0]


def test_silent_provider_times_out(tool, provider):
    provider.behaviour["negotiation"] = "silent"
    t0 = time.monotonic()
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN,
               "--timeout", "1"), "no agreement", "within 1 s")
    assert time.monotonic() - t0 < 10
    assert only(list(provider.negotiations.values()))["state"] == \
        "TERMINATED"


def test_callbacks_before_the_answer(tool, provider):
    """A provider that calls back before it answers our request."""
    provider.behaviour["negotiation"] = "sync"
    provider.behaviour["transfer"] = "sync"
    proc = ok(mim(tool, "run", provider.url, "--dataset", AIR))
    assert json.loads(proc.stdout) == DATA[AIR]


def test_negotiation_error_answer_is_quoted(tool, provider):
    provider.fail["negotiations/request"] = (400, {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "ContractNegotiationError", "providerPid": "n/a",
        "consumerPid": "n/a", "code": "unknown-offer",
        "reason": ["offer withdrawn"]})
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN),
           "negotiation: HTTP 400 ContractNegotiationError",
           "code unknown-offer", "offer withdrawn")


def test_invalid_error_answer(tool, provider):
    provider.fail["negotiations/request"] = (400, {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "ContractNegotiationError", "reason": "not an array"})
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN),
           "HTTP 400 with an invalid error message")


def test_non_dsp_error_answer(tool, provider):
    provider.fail["negotiations/request"] = (503, {"error": "maintenance"})
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN),
           "HTTP 503", "maintenance")


# ---- invalid messages from the provider -------------------------------------

def drop(name):
    def fn(msg):
        msg.pop(name, None)
        return msg
    return fn


def setting(path, value):
    def fn(msg):
        obj = msg
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
        return msg
    return fn


INVALID = {
    # kind: (mutation, words the reason must hold, answered by callback)
    "agreement-type": ("agreement", setting(["@type"], "ContractAgreement"),
                       ["@type is ContractAgreement",
                        "ContractAgreementMessage expected"], True),
    "agreement-inner-type": ("agreement",
                             setting(["agreement", "@type"], "Offer"),
                             ["invalid ContractAgreementMessage",
                              "agreement"], True),
    "agreement-no-assignee": ("agreement", lambda m: (
        m["agreement"].pop("assignee"), m)[1],
        ["invalid ContractAgreementMessage", "assignee"], True),
    "agreement-other-pid": ("agreement", setting(["providerPid"],
                                                 "urn:uuid:other"),
                            ["providerPid urn:uuid:other"], True),
    "event-accepted": ("event", setting(["eventType"], "ACCEPTED"),
                       ["eventType ACCEPTED"], True),
    "answer-no-provider-pid": ("negotiation", drop("providerPid"),
                               ["ContractNegotiation", "providerPid"],
                               False),
    "answer-bad-state": ("negotiation", setting(["state"], "PENDING"),
                         ["ContractNegotiation", "state"], False),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_negotiation_message(tool, provider, case):
    kind, fn, words, callback = INVALID[case]
    provider.mutate[kind] = fn
    proc = failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN,
                      "--timeout", "5"), *words)
    if callback:
        # the consumer refused it on the wire too, and ended the process
        provider.wait_for(lambda: any(s.status == 400
                                      for s in provider.callbacks()))
        refused = [s for s in provider.callbacks() if s.status == 400]
        assert refused, provider.callbacks()
        assert "invalid message to .../" in proc.stderr, proc.stderr
        rec = only(list(provider.negotiations.values()))
        assert rec["state"] == "TERMINATED", rec
        assert provider.requests("/termination")


START_INVALID = {
    "no-data-address": (drop("dataAddress"), ["dataAddress: missing"]),
    "bad-type": (setting(["@type"], "TransferStarted"),
                 ["@type is TransferStarted"]),
    "not-http": (setting(["dataAddress", "endpointType"], "urn:ftp"),
                 ["endpointType urn:ftp"]),
    "no-endpoint-type": (lambda m: (m["dataAddress"].pop("endpointType"),
                                    m)[1],
                         ["invalid TransferStartMessage", "endpointType"]),
    "basic-auth": (setting(["dataAddress", "endpointProperties", 1, "value"],
                           "basic"), ["authType basic"]),
}


@pytest.mark.parametrize("case", sorted(START_INVALID))
def test_invalid_transfer_start(tool, provider, case):
    fn, words = START_INVALID[case]
    provider.mutate["start"] = fn
    agreement = provider.seed_agreement()
    proc = failed(mim(tool, "transfer", provider.url, "--agreement",
                      agreement, "--timeout", "5"), *words)
    start = only(callbacks(provider, "/start"))
    assert start.status == 400, start
    answer = json.loads(start.answer)
    assert answer["@type"] == "TransferError", answer
    assert schema_errors(answer) == []
    rec = only(list(provider.transfers.values()))
    assert rec["state"] == "TERMINATED"
    term = only(provider.requests("/termination")).json
    assert term["@type"] == "TransferTerminationMessage"
    assert proc.stdout == ""


def test_provider_terminates_the_transfer(tool, provider):
    provider.behaviour["transfer"] = "terminate"
    agreement = provider.seed_agreement()
    failed(mim(tool, "transfer", provider.url, "--agreement", agreement),
           "terminated the transfer", "code gone", "dataset withdrawn")
    assert provider.requests("/termination") == []


def test_transfer_of_an_unknown_agreement(tool, provider):
    failed(mim(tool, "transfer", provider.url, "--agreement", "urn:x:nope"),
           "transfer: HTTP 400 TransferError", "unknown agreement")


# ---- transfer, get, run -----------------------------------------------------

def test_transfer(tool, provider):
    agreement = provider.seed_agreement(NOISE)
    proc = ok(mim(tool, "transfer", provider.url, "--agreement", agreement))
    out = fields(proc.stdout)
    rec = only(list(provider.transfers.values()))
    assert out["transfer"] == [rec["providerPid"]]
    assert out["endpoint"] == [provider.url + "/data/urn%3Afake%3Adataset"
                               "%3Anoise"]
    assert out["token"] == [provider.data_token]
    assert "REQUESTED -> STARTED, endpoint" in proc.stderr
    req = only(provider.requests("/transfers/request")).json
    assert req["agreementId"] == agreement
    assert req["format"] == "HttpData-PULL"
    assert URN_UUID.match(req["consumerPid"])
    assert "dataAddress" not in req                 # pull
    assert rec["state"] == "STARTED"


def test_transfer_json(tool, provider):
    agreement = provider.seed_agreement()
    proc = ok(mim(tool, "transfer", provider.url, "--agreement", agreement,
                  "--json"))
    result = json.loads(proc.stdout)
    assert result["state"] == "STARTED"
    assert result["token"] == provider.data_token
    assert result["dataAddress"]["@type"] == "DataAddress"
    assert schema_errors(result["dataAddress"], "DataAddress") == []


def test_get(tool, provider, tmp_path):
    endpoint = provider.url + "/data/" + AIR
    proc = ok(mim(tool, "get", endpoint, "--token", provider.data_token,
                  "--purpose", "https://w3id.org/dpv#Research"))
    assert json.loads(proc.stdout) == DATA[AIR]
    path, headers = provider.data_requests[-1]
    assert headers["Authorization"] == "Bearer " + provider.data_token
    assert headers["X-Data-Purpose"] == "https://w3id.org/dpv#Research"
    # -o FILE, another purpose header
    out = tmp_path / "data.json"
    proc = ok(mim(tool, "get", endpoint, "--token", provider.data_token,
                  "-o", out, "--purpose", "urn:p", "--purpose-header",
                  "X-Purpose"))
    assert proc.stdout == ""
    assert json.loads(out.read_text()) == DATA[AIR]
    assert provider.data_requests[-1][1]["X-Purpose"] == "urn:p"


def test_get_json(tool, provider):
    proc = ok(mim(tool, "get", provider.url + "/data/" + AIR, "--token",
                  provider.data_token, "--json"))
    result = json.loads(proc.stdout)
    assert result["status"] == 200
    assert result["contentType"] == "application/ld+json"
    assert result["body"] == DATA[AIR]


@pytest.mark.parametrize("token", [None, "wrong"])
def test_get_refused(tool, provider, token):
    args = ["--token", token] if token else []
    proc = failed(mim(tool, "get", provider.url + "/data/" + AIR, *args),
                  "HTTP 401", "invalid_token")
    assert proc.stdout == ""
    headers = provider.data_requests[-1][1]
    assert ("Authorization" in headers) == (token is not None)


def test_run(tool, provider):
    proc = ok(mim(tool, "run", provider.url, "--dataset", AIR))
    assert json.loads(proc.stdout) == DATA[AIR]
    rec = only(list(provider.negotiations.values()))
    assert rec["offer"]["@id"] == AIR_OPEN           # the first offer
    assert rec["state"] == "FINALIZED"
    tp = only(list(provider.transfers.values()))
    assert tp["state"] == "STARTED"
    assert only(provider.requests("/transfers/request")).json[
        "agreementId"] == rec["agreement"]["@id"]
    for line in ("catalog: 2 datasets", "offer: %s for dataset %s" % (
            AIR_OPEN, AIR), "-> FINALIZED", "REQUESTED -> STARTED",
            "HTTP 200"):
        assert line in proc.stderr, (line, proc.stderr)


def test_run_json_with_offer_path_purpose_complete(tool, provider):
    proc = ok(mim(tool, "run", provider.url, "--dataset", AIR, "--offer",
                  AIR_RESEARCH, "--path", "/latest", "--purpose",
                  "https://w3id.org/dpv#Research", "--complete", "--json"))
    result = json.loads(proc.stdout)
    assert result["dataset"] == AIR
    assert result["offer"]["@id"] == AIR_RESEARCH
    assert result["offer"]["target"] == AIR
    assert result["negotiation"]["state"] == "FINALIZED"
    assert result["transfer"]["state"] == "COMPLETED"
    assert result["data"]["status"] == 200
    assert result["data"]["body"] == DATA[AIR]
    path, headers = provider.data_requests[-1]
    assert path == "/data/urn%3Afake%3Adataset%3Aair/latest"
    assert headers["X-Data-Purpose"] == "https://w3id.org/dpv#Research"
    assert only(list(provider.transfers.values()))["state"] == "COMPLETED"
    completion = only(provider.requests("/completion")).json
    assert completion["@type"] == "TransferCompletionMessage"


def test_run_query_suffix(tool, provider):
    ok(mim(tool, "run", provider.url, "--dataset", AIR, "--path",
           "?limit=1"))
    assert provider.data_requests[-1][0].endswith("air?limit=1")


def test_run_format_not_offered(tool, provider):
    failed(mim(tool, "run", provider.url, "--dataset", AIR, "--format",
               "HttpData-PUSH"), "no distribution in format HttpData-PUSH")
    assert provider.negotiations == {}


def test_run_data_refused(tool, provider):
    provider.data_token = "changed-after-the-start"

    def start_old(msg):
        props = msg["dataAddress"]["endpointProperties"]
        props[0]["value"] = "the-old-token"
        return msg
    provider.mutate["start"] = start_old
    failed(mim(tool, "run", provider.url, "--dataset", AIR),
           "HTTP 401", "no or bad token")


# ---- identity and TLS -------------------------------------------------------

def test_run_with_an_ishare_token(tool):
    with FakeProvider(require_token=True) as p:
        proc = ok(mim(tool, "run", p.url, "--dataset", NOISE, "--cert", CERT,
                      "--key", KEY, "--provider-id", PROVIDER_ID))
        assert json.loads(proc.stdout) == DATA[NOISE]
        assert "token: iSHARE access token for %s" % P1 in proc.stderr
        header, claims = only(p.assertions)
        assert sorted(header) == ["alg", "typ", "x5c"]
        assert len(header["x5c"]) == 2                  # leaf, intermediate
        assert claims["iss"] == claims["sub"] == P1
        assert claims["aud"] == PROVIDER_ID
        token = only(list(p.access_tokens))
        for req in p.requests("/api/dsp/"):
            assert req.headers["Authorization"] == "Bearer " + token, req
        p.assert_all_valid()


def test_ishare_refused_by_the_provider(tool):
    with FakeProvider(require_token=True) as p:
        failed(mim(tool, "catalog", p.url, "--cert", CERT, "--key", KEY,
                   "--provider-id", "EU.EORI.NLSOMEONEELSE"),
               "token endpoint: HTTP 400 invalid_client",
               "aud EU.EORI.NLSOMEONEELSE is not us")


def test_client_id_must_be_the_certificates(tool):
    with FakeProvider(require_token=True) as p:
        failed(mim(tool, "catalog", p.url, "--cert", CERT, "--key", KEY,
                   "--provider-id", PROVIDER_ID, "--client-id",
                   "EU.EORI.NL000000002"), "invalid_client")


def test_wrong_key_for_the_certificate(tool):
    with FakeProvider(require_token=True) as p:
        failed(mim(tool, "catalog", p.url, "--cert", CERT, "--key",
                   paths.CERTS / "participant2.key", "--provider-id",
                   PROVIDER_ID), str(CERT))


def test_bearer_token_option(tool):
    with FakeProvider(require_token=True) as p:
        failed(mim(tool, "catalog", p.url), "catalog: HTTP 401")
        p.access_tokens.add("given-token")
        ok(mim(tool, "catalog", p.url, "--token", "given-token"))
        assert p.requests("/catalog")[-1].headers["Authorization"] == \
            "Bearer given-token"


def test_tls_with_ca(tool):
    with FakeProvider(tls=True) as p:
        assert p.url.startswith("https://")
        proc = ok(mim(tool, "run", p.url, "--dataset", AIR, "--ca", CA))
        assert json.loads(proc.stdout) == DATA[AIR]
        # without the dev root the provider is not trusted
        failed(mim(tool, "catalog", p.url), "version")
        p.assert_all_valid()


# ---- the callback listener --------------------------------------------------

def raw(port, data, timeout=5.0):
    """Send bytes to 127.0.0.1:port, return the answer's status (and all of
    it)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def post(path, body, headers=None, length=True):
    head = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1"]
    if length:
        head.append("Content-Length: %d" % len(body))
    head += headers or ["Content-Type: application/json"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Background:
    """`mim consumer negotiate` against a silent provider, listening on a
    known port; the test plays the provider's side of the callbacks."""

    def __init__(self, tool, provider, timeout=10):
        self.port = free_port()
        provider.behaviour["negotiation"] = "silent"
        self.provider = provider
        self.proc = subprocess.Popen(
            [str(tool), "consumer", "negotiate", provider.url, "--offer",
             AIR_OPEN, "--timeout", str(timeout), "--callback-listen",
             "%s:%d" % (LOOPBACK, self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert provider.wait_for(lambda: provider.negotiations), \
            self.finish()
        self.rec = only(list(provider.negotiations.values()))
        self.cpid = self.rec["consumerPid"]

    def agreement(self):
        self.provider.behaviour.pop("negotiation")
        self.provider._agree(self.rec)      # sets state AGREED
        return self.provider.callbacks("/agreement")[-1]

    def message(self, **changes):
        msg = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
               "@type": "ContractAgreementMessage",
               "providerPid": self.rec["providerPid"],
               "consumerPid": self.cpid,
               "agreement": {"@id": new_pid(), "@type": "Agreement",
                             "target": AIR, "assigner": PROVIDER_ID,
                             "assignee": P1,
                             "timestamp": "2025-01-01T00:00:00Z",
                             "permission": [{"action": "use"}]}}
        msg.update(changes)
        return json.dumps(msg).encode()

    def finish(self, timeout=20):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def test_listener_refuses_what_is_not_a_callback(tool, provider):
    bg = Background(tool, provider)
    port, cpid = bg.port, bg.cpid
    agreement = "/negotiations/%s/agreement" % cpid
    body = bg.message()
    cases = [
        ("GET", b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % agreement.encode(),
         405),
        ("unknown pid", post("/negotiations/urn:uuid:nobody/agreement",
                             body), 404),
        ("unknown path", post("/negotiations/%s/other" % cpid, body), 404),
        ("outside", post("/elsewhere", body), 404),
        ("transfer kind", post("/transfers/%s/start" % cpid, body), 404),
        ("media type", post(agreement, body, ["Content-Type: text/plain"]),
         415),
        ("no length", post(agreement, body, length=False), 411),
        ("bare LF", post(agreement, body).replace(b"Host: 127.0.0.1\r\n",
                                                  b"Host: 127.0.0.1\n"),
         400),
        ("no host", post(agreement, body).replace(b"Host: 127.0.0.1\r\n",
                                                  b""), 400),
        ("two lengths", post(agreement, body, [
            "Content-Type: application/json", "Content-Length: 3"]), 400),
        ("folding", post(agreement, body, [
            "Content-Type: application/json", " folded"]), 400),
        ("bad version", post(agreement, body).replace(b"HTTP/1.1",
                                                      b"HTTP/9.9", 1), 400),
        ("huge header", post(agreement, body, [
            "Content-Type: application/json", "X-Big: " + "a" * 20000]),
         431),
        ("too large", post(agreement, b"", [
            "Content-Type: application/json",
            "Content-Length: 99999999"], length=False), 413),
        ("bad escape", post("/negotiations/%zz/agreement", body), 400),
    ]
    for name, data, status in cases:
        got, answer = raw(port, data)
        assert got == status, (name, got, answer)
        assert b"Connection: close" in answer, (name, answer)
    # none of that disturbed the negotiation: the real agreement goes on
    sent = bg.agreement()
    assert sent.status == 200, sent
    rc, out, err = bg.finish()
    assert rc == 0, (rc, out, err)
    assert "-> FINALIZED" in err


def test_listener_takes_a_chunked_callback(tool, provider):
    bg = Background(tool, provider)
    bg.rec["state"] = "AGREED"          # what the test's message says
    body = bg.message()
    bg.rec["agreement"] = json.loads(body)["agreement"]
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 50]),
                                                 body[i:i + 50])
                       for i in range(0, len(body), 50)) + b"0\r\n\r\n"
    path = "//negotiations/%s/agreement/" % bg.cpid.replace(":", "%3A")
    status, answer = raw(bg.port, post(path, chunked, [
        "Content-Type: application/json; charset=utf-8",
        "Transfer-Encoding: chunked"], length=False))
    assert status == 200, answer
    rc, out, err = bg.finish()
    assert rc == 0, (rc, out, err)
    assert fields(out)["agreement"] == [bg.rec["agreement"]["@id"]]


@pytest.mark.parametrize("case", ["consumer-pid", "not-json", "type"])
def test_listener_invalid_callback_ends_the_negotiation(tool, provider,
                                                        case):
    bg = Background(tool, provider)
    body = {"consumer-pid": bg.message(consumerPid="urn:uuid:another"),
            "not-json": b'{"@type": ',
            "type": bg.message(**{"@type": "ContractOfferMessage"})}[case]
    status, answer = raw(bg.port, post("/negotiations/%s/agreement"
                                       % bg.cpid, body))
    assert status == 400, answer
    rc, out, err = bg.finish()
    assert rc == 1, (rc, out, err)
    assert "invalid message to .../agreement" in err, err
    assert {"consumer-pid": "consumerPid urn:uuid:another",
            "not-json": "not JSON",
            "type": "@type is ContractOfferMessage"}[case] in err
    assert bg.rec["state"] == "TERMINATED"


def test_callback_url_with_a_path(tool, provider):
    port = free_port()
    proc = ok(mim(tool, "run", provider.url, "--dataset", AIR,
                  "--callback-listen", "127.0.0.1:%d" % port,
                  "--callback-url", "http://127.0.0.1:%d/cb/x/" % port))
    assert json.loads(proc.stdout) == DATA[AIR]
    req = only(provider.requests("/negotiations/request")).json
    assert req["callbackAddress"] == "http://127.0.0.1:%d/cb/x" % port
    for sent in callbacks(provider, n=3):
        assert "/cb/x/" in sent.url and sent.status == 200, sent


def test_listen_on_any_address_needs_a_callback_url(tool, provider):
    failed(mim(tool, "negotiate", provider.url, "--offer", AIR_OPEN,
               "--callback-listen", "0.0.0.0:0"), "--callback-url")


# ---- the gateway ------------------------------------------------------------

@pytest.fixture
def gateway(nginx, redis, tmp_path):
    return start_dsp(nginx, redis, tmp_path)


def identity(provider_id=GATEWAY_ID):
    return ["--cert", CERT, "--key", KEY, "--ca", CA, "--provider-id",
            provider_id]


def test_gateway_catalog(tool, gateway):
    proc = ok(mim(tool, "catalog", gateway.url("/"), *identity()))
    out = fields(proc.stdout)
    assert out["dataset"] == [PARKING, GW_AIR]
    assert "urn:mim:offer:open" in out["offer"]
    assert "version: DSP 2025-1 at %s" % gateway.url("/dsp") in proc.stderr
    proc = ok(mim(tool, "catalog", gateway.url("/dsp"), "--json",
                  *identity()))
    catalog = json.loads(proc.stdout)
    assert catalog["participantId"] == GATEWAY_ID
    assert schema_errors(catalog, "Catalog") == []


def test_gateway_refuses_a_wrong_audience(tool, gateway):
    failed(mim(tool, "catalog", gateway.url("/"),
               *identity("EU.EORI.NLOTHER")),
           "token endpoint: HTTP 400 invalid_client", "aud EU.EORI.NLOTHER")


def test_gateway_without_identity(tool, gateway):
    failed(mim(tool, "catalog", gateway.url("/")), "catalog: HTTP 401")


def test_gateway_negotiate(tool, gateway):
    proc = ok(mim(tool, "negotiate", gateway.url("/"), "--offer",
                  "urn:mim:offer:open", "--json", *identity()))
    result = json.loads(proc.stdout)
    agreement = result["agreement"]
    assert result["state"] == "FINALIZED"
    assert agreement["target"] == PARKING
    assert agreement["assigner"] == GATEWAY_ID
    assert agreement["assignee"] == P1
    # the gateway agrees: the pytest consumer, participant1 too, sees it
    consumer = Consumer(gateway)
    assert consumer.state(result["providerPid"]) == "FINALIZED"


def test_gateway_negotiation_refused(tool, gateway):
    failed(mim(tool, "negotiate", gateway.url("/"), "--offer",
               "urn:mim:offer:expired", *identity()),
           "terminated the negotiation", "policy")


def agreement_of(tool, gateway):
    proc = ok(mim(tool, "negotiate", gateway.url("/"), "--offer",
                  "urn:mim:offer:open", *identity()))
    return fields(proc.stdout)["agreement"][0]


def test_gateway_transfer_and_get(tool, gateway):
    agreement = agreement_of(tool, gateway)
    proc = ok(mim(tool, "transfer", gateway.url("/"), "--agreement",
                  agreement, "--json", *identity()))
    result = json.loads(proc.stdout)
    assert result["state"] == "STARTED"
    assert result["endpoint"].startswith("http")
    assert result["token"]
    consumer = Consumer(gateway)
    status, body = consumer.send("GET", "/transfers/"
                                 + result["providerPid"])
    assert status == 200 and body["state"] == "STARTED", (status, body)
    proc = ok(mim(tool, "get", result["endpoint"], "--token",
                  result["token"], "--json"))
    assert 200 <= json.loads(proc.stdout)["status"] < 300


def test_gateway_run(tool, gateway):
    proc = ok(mim(tool, "run", gateway.url("/"), "--dataset", PARKING,
                  "--complete", "--json", *identity()))
    result = json.loads(proc.stdout)
    assert result["offer"]["target"] == PARKING
    assert result["negotiation"]["state"] == "FINALIZED"
    assert result["transfer"]["state"] == "COMPLETED"
    assert 200 <= result["data"]["status"] < 300
    consumer = Consumer(gateway)
    status, body = consumer.send("GET", "/transfers/"
                                 + result["transfer"]["providerPid"])
    assert status == 200 and body["state"] == "COMPLETED", (status, body)


# ---- the gateway's agreement-gated data plane -------------------------------

RESEARCH_PURPOSE = "https://w3id.org/dpv#ResearchAndDevelopment"


@pytest.fixture
def gated(nginx, redis, tmp_path):
    return nginx("agreement", SIGNING_KEY=paths.CERTS / "sign-es256.key",
                 REDIS=redis_line(redis),
                 CATALOG=write_catalog(tmp_path / "catalog"),
                 DATA_EXTRA="", HTTP_EXTRA="")


# agreement.conf.in has no /.well-known/dspace-version: the base URL

def test_gated_run(tool, gated):
    proc = ok(mim(tool, "run", gated.url("/dsp"), "--dataset", PARKING,
                  *identity()))
    entities = json.loads(proc.stdout)
    assert entities[0]["type"] == "ParkingSpot", entities


def test_gated_purpose(tool, gated):
    args = ["run", gated.url("/dsp"), "--dataset", PARKING, "--offer",
            "urn:mim:offer:research"] + identity()
    proc = ok(mim(tool, *args, "--purpose", RESEARCH_PURPOSE))
    assert json.loads(proc.stdout)[0]["type"] == "ParkingSpot"
    # another purpose: the policy says no, and the consumer says why
    proc = failed(mim(tool, *args, "--purpose",
                      "https://w3id.org/dpv#Marketing"), "HTTP 403")
    assert "purpose" in proc.stderr, proc.stderr


def test_gated_get_needs_the_token(tool, gated):
    proc = ok(mim(tool, "negotiate", gated.url("/dsp"), "--offer",
                  "urn:mim:offer:open", *identity()))
    agreement = fields(proc.stdout)["agreement"][0]
    proc = ok(mim(tool, "transfer", gated.url("/dsp"), "--agreement",
                  agreement, "--json", *identity()))
    tp = json.loads(proc.stdout)
    ok(mim(tool, "get", tp["endpoint"], "--token", tp["token"]))
    failed(mim(tool, "get", tp["endpoint"]), "HTTP 401")
    failed(mim(tool, "get", tp["endpoint"], "--token", tp["token"] + "x"),
           "HTTP 401", "invalid_token")


def test_gated_completed_transfer_closes_the_data(tool, gated):
    proc = ok(mim(tool, "run", gated.url("/dsp"), "--dataset", PARKING,
                  "--complete", "--json", *identity()))
    tp = json.loads(proc.stdout)["transfer"]
    assert tp["state"] == "COMPLETED"
    deadline = time.monotonic() + 2
    while True:
        proc = mim(tool, "get", tp["endpoint"], "--token", tp["token"])
        if proc.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    failed(proc, "HTTP 409", "COMPLETED")
