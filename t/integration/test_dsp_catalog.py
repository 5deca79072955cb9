"""The DSP 2025-1 provider (conf/test/dsp.conf.in): version discovery, the
token in front of every /dsp/ endpoint, the catalog and its datasets.
Every answer is checked against the official schemas (mimtest.dsp)."""

import json

import pytest

from mimtest import request
from mimtest.dsp import (
    AIR, CONTEXT, GATEWAY_ID, OFFERS, PARKING, RESEARCH, Consumer, message,
    new_pid, offer_message, contract_request, start_dsp, validate)


@pytest.fixture
def gateway(nginx, redis, tmp_path):
    return start_dsp(nginx, redis, tmp_path)


@pytest.fixture
def consumer(gateway):
    return Consumer(gateway)


def json_type(resp):
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip()


# ---- /.well-known/dspace-version ---------------------------------------------

def test_version_needs_no_token(gateway):
    resp = request("GET", gateway.url("/.well-known/dspace-version"))
    assert resp.status == 200, (resp.status, resp.body)
    assert json_type(resp) == "application/json", resp.headers
    body = validate(json.loads(resp.body), "VersionResponse")
    entries = [v for v in body["protocolVersions"]
               if v["version"] == "2025-1"]
    assert len(entries) == 1, body
    assert entries[0]["path"] == "/dsp", body
    assert entries[0]["binding"] == "HTTPS", body


# ---- the token ----------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/dsp/catalog/request", message("CatalogRequestMessage")),
    ("GET", "/dsp/catalog/datasets/" + PARKING, None),
    ("POST", "/dsp/negotiations/request",
     contract_request(offer_message("urn:mim:offer:open"),
                      "http://127.0.0.1:9/cb")),
    ("GET", "/dsp/negotiations/" + new_pid(), None),
    ("POST", "/dsp/negotiations/%s/agreement/verification" % new_pid(),
     message("ContractAgreementVerificationMessage", providerPid=new_pid(),
             consumerPid=new_pid())),
    ("POST", "/dsp/negotiations/%s/events" % new_pid(),
     message("ContractNegotiationEventMessage", providerPid=new_pid(),
             consumerPid=new_pid(), eventType="ACCEPTED")),
    ("POST", "/dsp/negotiations/%s/termination" % new_pid(),
     message("ContractNegotiationTerminationMessage", providerPid=new_pid(),
             consumerPid=new_pid())),
]


def test_every_dsp_endpoint_needs_a_valid_token(gateway, redis):
    failures = []
    for method, path, body in ENDPOINTS:
        for auth in (None, "Bearer abc.def.ghi", "Basic Zm9vOmJhcg=="):
            headers = {"Content-Type": "application/json"}
            if auth:
                headers["Authorization"] = auth
            resp = request(method, gateway.url(path), headers=headers,
                           body=json.dumps(body).encode() if body else None)
            try:
                parsed = json.loads(resp.body)
            except ValueError:
                parsed = None
            if resp.status != 401 or not isinstance(parsed, dict):
                failures.append("%s %s with %r: %d %r" % (
                    method, path, auth, resp.status, resp.body[:200]))
    assert not failures, "\n".join(failures)
    # nothing reached the negotiation store
    assert redis.command("KEYS", "mim:neg:*") == []


# ---- the catalog --------------------------------------------------------------

def access_service_urls(catalog, dataset):
    """The endpointURL of each distribution's accessService (an object,
    or the @id of one of the catalog's services)."""
    services = {s.get("@id"): s for s in catalog.get("service", [])}
    urls = []
    for dist in dataset["distribution"]:
        service = dist["accessService"]
        if isinstance(service, str):
            service = services.get(service, {})
        urls.append(service.get("endpointURL"))
    return urls


def test_catalog(gateway, consumer):
    status, cat = consumer.catalog()
    assert status == 200, (status, cat)
    assert json_type(consumer.last) == "application/json"
    assert cat["@type"] == "Catalog", cat
    validate(cat)                               # as a Catalog
    assert CONTEXT in cat["@context"], cat
    assert cat["participantId"] == GATEWAY_ID, cat
    datasets = {d["@id"]: d for d in cat["dataset"]}
    assert set(datasets) == {PARKING, AIR}, cat
    for dataset_id, dataset in datasets.items():
        offers = {o["@id"]: o for o in dataset["hasPolicy"]}
        expected = {oid for oid, (ds, _) in OFFERS.items()
                    if ds == dataset_id}
        assert set(offers) == expected, dataset
        for oid, offer in offers.items():
            # the dataset is the target: offers in a catalog have none
            assert "target" not in offer, offer
            assert offer.get("@type", "Offer") == "Offer", offer
            rules = OFFERS[oid][1]
            for kind in ("permission", "prohibition", "obligation"):
                assert offer.get(kind) == rules.get(kind), (oid, kind, offer)
        formats = [d["format"] for d in dataset["distribution"]]
        assert formats == ["HttpData-PULL"], dataset
        # the DSP endpoint of this gateway (no mim_dsp_url: the request's)
        assert access_service_urls(cat, dataset) == [gateway.url("/dsp")], \
            (cat.get("service"), dataset["distribution"])
    # the offer that lives in a file beside the catalog is served inline
    research = {o["@id"]: o for o in datasets[PARKING]["hasPolicy"]}[
        RESEARCH["@id"]]
    assert research["permission"] == RESEARCH["permission"]


def test_catalog_request_with_a_filter_is_400(consumer):
    status, body = consumer.catalog(message(
        "CatalogRequestMessage", filter=[{"title": "Parking"}]))
    assert status == 400, (status, body)
    assert isinstance(body, dict) and body["@type"] == "CatalogError", body
    # an empty filter is no filter
    status, body = consumer.catalog(message("CatalogRequestMessage",
                                            filter=[]))
    assert status == 200, (status, body)
    assert body["@type"] == "Catalog"


BAD_CATALOG_REQUESTS = [
    ("malformed JSON", b'{"@type": "CatalogRequestMessage", '),
    ("not an object", b'["CatalogRequestMessage"]'),
    ("wrong @type", message("DatasetRequestMessage", dataset=PARKING)),
    ("no @type", {"@context": [CONTEXT]}),
    ("no @context", {"@type": "CatalogRequestMessage"}),
    ("another @context", {"@context": ["https://w3id.org/dspace/v0.8/"
                                       "context.json"],
                          "@type": "CatalogRequestMessage"}),
]


@pytest.mark.parametrize("name, body", BAD_CATALOG_REQUESTS,
                         ids=[n for n, _ in BAD_CATALOG_REQUESTS])
def test_bad_catalog_requests_are_400_catalog_errors(consumer, name, body):
    status, answer = consumer.catalog(body)
    assert status == 400, (name, status, answer)
    assert isinstance(answer, dict), (name, answer)
    assert answer["@type"] == "CatalogError", (name, answer)
    assert answer.get("reason"), (name, answer)


def test_dataset(consumer):
    status, dataset = consumer.dataset(PARKING)
    assert status == 200, (status, dataset)
    assert dataset["@type"] == "Dataset", dataset
    validate(dataset)                           # as a Dataset, with @context
    assert CONTEXT in dataset["@context"]
    assert dataset["@id"] == PARKING
    assert {o["@id"] for o in dataset["hasPolicy"]} == {
        oid for oid, (ds, _) in OFFERS.items() if ds == PARKING}
    assert all("target" not in o for o in dataset["hasPolicy"]), dataset
    assert [d["format"] for d in dataset["distribution"]] == ["HttpData-PULL"]

    status, air = consumer.dataset(AIR)
    assert status == 200 and air["@id"] == AIR, (status, air)


def test_unknown_dataset_is_404_catalog_error(consumer):
    status, body = consumer.dataset("urn:mim:dataset:nope")
    assert status == 404, (status, body)
    assert isinstance(body, dict) and body["@type"] == "CatalogError", body
