"""NGSI-LD awareness: ODRL policies that cover some entity types and
attributes, and `mim_ngsild_filter` removing the rest from the broker's
answers (docs/ngsild.md).

The gateway is conf/test/ngsild.conf.in: the conf/broker entities served
by nginx itself, and one gateway location per policy.  Expected bodies
are computed here from the broker's files with Python's json module: the
filter keeps the broker's bytes, so a filtered compact body is exactly
the compact form of the filtered entities.
"""

import gzip
import json
import socket
import threading

import pytest
import requests

from mimtest import paths, request, verify_response

TARGET = "urn:mim:test:entities"
W3C = "http://www.w3.org/ns/odrl.jsonld"
TYPE = "urn:mim:ngsild:entityType"
ATTR = "urn:mim:ngsild:attribute"
ENTITIES = paths.BROKER_DATA / "entities"
CORE = ("id", "@id", "type", "@type", "@context")
PARKING_1 = "urn:ngsi-ld:ParkingSpot:santander:001"
AIR_1 = "urn:ngsi-ld:AirQualityObserved:santander:001"


def constraint(left, op, right):
    return {"leftOperand": left, "operator": op, "rightOperand": right}


def read_permission(*constraints):
    return {"@context": W3C, "@type": "Set", "uid": "urn:policy:test",
            "permission": [{"target": TARGET, "action": "read",
                            "constraint": list(constraints)}]}


POLICIES = {
    "ALLOW": read_permission(
        constraint(TYPE, "isAnyOf", ["ParkingSpot", "AirQualityObserved"]),
        constraint(ATTR, "isAnyOf", ["name", "status", "NO2"])),
    "DENY": read_permission(
        constraint(ATTR, "isNoneOf", ["PM25", "PM10", "location"])),
    "TYPES": read_permission(constraint(TYPE, "eq", "AirQualityObserved")),
    "PROHIBIT": {
        "@context": W3C, "@type": "Set", "uid": "urn:policy:no-status",
        "permission": [{"target": TARGET, "action": "use"}],
        "prohibition": [{"uid": "urn:rule:no-status", "target": TARGET,
                         "action": "read",
                         "constraint": [constraint(ATTR, "eq", "status")]}]},
    "PLAIN": read_permission(),
}


def broker(name="index.json"):
    return json.loads((ENTITIES / name).read_bytes())


def entity_file(entity_id):
    return ENTITIES / ("%s.json" % entity_id)


def narrow(entity, allow=None, deny=()):
    return {k: v for k, v in entity.items()
            if k in CORE or ((allow is None or k in allow)
                             and k not in deny)}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"),
                      ensure_ascii=False).encode()


def key_values(entity):
    """options=keyValues: each attribute by its value (or object)."""
    out = {}
    for name, value in entity.items():
        if name in CORE or not isinstance(value, dict):
            out[name] = value
        elif value.get("type") == "Relationship":
            out[name] = value["object"]
        else:
            out[name] = value["value"]
    return out


def many_entities(n=400):
    """About 280 KB of entities: more than the filter's first buffer."""
    air = broker()[0]
    return [dict(air, id="urn:ngsi-ld:AirQualityObserved:many:%04d" % i)
            for i in range(n)]


def dying_broker(port):
    """A broker that announces 4000 bytes of entities, sends 100 and
    closes the connection."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\n"
                             b"Content-Type: application/ld+json\r\n"
                             b"Content-Length: 4000\r\n\r\n"
                             + (ENTITIES / "index.json").read_bytes()[:100])

    threading.Thread(target=serve, daemon=True).start()
    return listener


@pytest.fixture(scope="module")
def gateway(request, tmp_path_factory, mim_module, dev_certs):
    """One gateway for the whole module (every test only reads)."""
    from mimtest.nginx import NginxServer
    tmp = tmp_path_factory.mktemp("ngsild")
    files = {}
    for name, doc in POLICIES.items():
        path = tmp / ("%s.jsonld" % name.lower())
        path.write_text(json.dumps(doc, indent=2))
        files[name] = str(path)
    srv = NginxServer("ngsild", tmp / "nginx", **files)
    data = srv.html / "files"
    data.mkdir(parents=True)
    (data / "kv.json").write_text(json.dumps(
        [key_values(e) for e in broker()], indent=1, ensure_ascii=False))
    (data / "note.txt").write_bytes((ENTITIES / "index.json").read_bytes())
    (data / "broken.json").write_text('[{"id": "urn:a", "type": "A",')
    (data / "many.json").write_bytes(compact(many_entities()))
    (data / "places.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "id": PARKING_1, "geometry": None,
            "properties": {"type": "ParkingSpot", "PM25": 3}}]}))
    dying = dying_broker(int(srv.vars["DYING_PORT"]))
    srv.start()
    yield srv
    srv.stop()
    dying.close()
    bad = srv.bad_log_lines()
    assert not bad, bad


def get(srv, path, **kw):
    return requests.get(srv.url(path), timeout=10, **kw)


def assert_json_error(resp, status, error, mentions=()):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["error"] == error, body
    for word in mentions:
        assert word in body["error_description"], body
    return body


def assert_policy_denied(resp, *mentions):
    assert resp.status_code == 403, (resp.status_code, resp.text)
    body = resp.json()
    assert body["error"] == "policy_denied", body
    text = " ".join(body["reasons"])
    for word in mentions:
        assert word in text, body["reasons"]


# ---- attributes -------------------------------------------------------------

def test_attribute_allow_list(gateway):
    resp = get(gateway, "/allow/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Mim-Decision"] == "permit"
    assert resp.headers["Content-Type"] == "application/ld+json"
    expected = [narrow(e, allow=("name", "status", "NO2")) for e in broker()]
    assert resp.content == compact(expected)
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    assert "ETag" not in resp.headers
    # what is left of the entities is exactly what the policy names
    assert {k for e in resp.json() for k in e} == {
        "id", "type", "@context", "name", "status", "NO2"}


def test_attribute_deny_list(gateway):
    resp = get(gateway, "/deny/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    expected = [narrow(e, deny=("PM25", "PM10", "location"))
                for e in broker()]
    assert resp.content == compact(expected)
    air = resp.json()[0]
    assert "NO2" in air and "airQualityLevel" in air
    assert "PM25" not in air and "location" not in air


def test_single_entity_attributes(gateway):
    resp = get(gateway, "/deny/ngsi-ld/v1/entities/" + PARKING_1)
    assert resp.status_code == 200, resp.text
    expected = narrow(json.loads(entity_file(PARKING_1).read_bytes()),
                      deny=("PM25", "PM10", "location"))
    assert resp.content == compact(expected)


def test_attrs_asked_outside_the_policy_are_denied(gateway):
    assert_policy_denied(get(gateway, "/allow/ngsi-ld/v1/entities",
                             params={"attrs": "name,PM25"}),
                         ATTR, "PM25")
    # a query on an attribute the caller may not see would tell its values
    assert_policy_denied(get(gateway, "/allow/ngsi-ld/v1/entities",
                             params={"q": "PM25>10"}), ATTR)
    resp = get(gateway, "/allow/ngsi-ld/v1/entities",
               params={"attrs": "name,status", "q": 'status=="free"'})
    assert resp.status_code == 200, resp.text


def test_prohibited_attribute(gateway):
    resp = get(gateway, "/prohibit/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    expected = [narrow(e, deny=("status",)) for e in broker()]
    assert resp.content == compact(expected)
    # asked for explicitly, the prohibition holds (conflict invalid)
    assert_policy_denied(get(gateway, "/prohibit/ngsi-ld/v1/entities",
                             params={"attrs": "status"}),
                         "urn:rule:no-status")


# ---- entity types -----------------------------------------------------------

def test_types_filtered_in_lists(gateway):
    resp = get(gateway, "/types/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    expected = [e for e in broker() if e["type"] == "AirQualityObserved"]
    assert resp.content == compact(expected)
    assert len(resp.json()) == 3


def test_single_entity_of_a_forbidden_type(gateway):
    resp = get(gateway, "/types/ngsi-ld/v1/entities/" + PARKING_1)
    body = assert_json_error(resp, 403, "forbidden")
    assert body["error_description"] == \
        "entity type ParkingSpot is not covered"
    assert resp.headers["X-Mim-Decision"] == "permit"   # the policy did

    resp = get(gateway, "/types/ngsi-ld/v1/entities/" + AIR_1)
    assert resp.status_code == 200
    assert resp.content == entity_file(AIR_1).read_bytes()


def test_type_asked_outside_the_policy_is_denied(gateway):
    assert_policy_denied(get(gateway, "/types/ngsi-ld/v1/entities",
                             params={"type": "ParkingSpot"}),
                         TYPE, "ParkingSpot")
    assert_policy_denied(get(gateway, "/types/ngsi-ld/v1/entities",
                             params={"type": "AirQualityObserved,Person"}),
                         TYPE)
    resp = get(gateway, "/types/ngsi-ld/v1/entities",
               params={"type": "AirQualityObserved"})
    assert resp.status_code == 200, resp.text
    assert resp.content == (ENTITIES / "by-type" /
                            "AirQualityObserved.json").read_bytes()


def test_scope_survives_an_internal_redirect(gateway):
    resp = get(gateway, "/redirect/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    expected = [narrow(e, deny=("PM25", "PM10", "location"))
                for e in broker()]
    assert resp.content == compact(expected)


def test_two_policies_intersect(gateway):
    resp = get(gateway, "/both/ngsi-ld/v1/entities")
    assert resp.status_code == 200, resp.text
    expected = [narrow(e, allow=("name", "status", "NO2")) for e in broker()
                if e["type"] == "AirQualityObserved"]
    assert resp.json() == expected


# ---- forms and media types --------------------------------------------------

def test_key_values_form(gateway):
    resp = get(gateway, "/deny/files/kv.json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    expected = [narrow(key_values(e), deny=("PM25", "PM10", "location"))
                for e in broker()]
    assert resp.json() == expected
    assert resp.json()[3]["status"] == "free"


def test_non_json_untouched(gateway):
    resp = get(gateway, "/deny/files/note.txt")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain"
    assert resp.content == (ENTITIES / "index.json").read_bytes()


def test_geojson_refused(gateway):
    resp = get(gateway, "/deny/files/places.geojson")
    assert_json_error(resp, 502, "bad_gateway", ["GeoJSON"])
    assert "PM25" not in resp.text


def test_broken_json_refused(gateway):
    assert_json_error(get(gateway, "/deny/files/broken.json"), 502,
                      "bad_gateway", ["not NGSI-LD JSON"])


def test_compressed_response_refused(gateway):
    resp = get(gateway, "/compressed/ngsi-ld/v1/entities")
    assert_json_error(resp, 502, "bad_gateway", ["compressed"])


def test_over_max_body_refused(gateway):
    resp = get(gateway, "/small/ngsi-ld/v1/entities")
    assert_json_error(resp, 502, "bad_gateway",
                      ["mim_ngsild_filter_max_body"])
    assert "PM25" not in resp.text
    # a small body still passes, filtered
    resp = get(gateway, "/small/ngsi-ld/v1/entities/" + PARKING_1)
    assert resp.status_code == 200
    assert "location" not in resp.json()


def test_body_of_unknown_length(gateway):
    resp = get(gateway, "/deny/stream/many.json")
    assert resp.status_code == 200, resp.text
    expected = [narrow(e, deny=("PM25", "PM10", "location"))
                for e in many_entities()]
    assert resp.content == compact(expected)
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    # over the limit as it streams
    resp = get(gateway, "/small/stream/many.json")
    assert_json_error(resp, 502, "bad_gateway",
                      ["mim_ngsild_filter_max_body"])


def test_broker_dying_mid_body(gateway):
    # nginx closes the connection (the header was handed to the filters)
    # or answers 502: never the part that came
    resp = request("GET", gateway.url("/dying/ngsi-ld/v1/entities"),
                   allow_incomplete=True)
    assert resp.status in (0, 502), resp.raw[:300]
    assert b"urn:ngsi-ld" not in resp.raw
    # the gateway still answers
    assert get(gateway, "/deny/ngsi-ld/v1/entities").status_code == 200


def test_head_does_not_tell_the_unfiltered_length(gateway):
    resp = requests.head(gateway.url("/deny/ngsi-ld/v1/entities"),
                         timeout=10)
    assert resp.status_code == 200
    assert "Content-Length" not in resp.headers
    assert "ETag" not in resp.headers


def test_encoded_and_repeated_parameters(gateway):
    # the policy decides on what the broker will read
    assert_policy_denied(get(gateway, "/types/ngsi-ld/v1/entities"
                             "?type=Parking%53pot"), "ParkingSpot")
    assert_policy_denied(get(gateway, "/types/ngsi-ld/v1/entities"
                             "?type=AirQualityObserved&type=ParkingSpot"),
                         "ParkingSpot")
    assert_policy_denied(get(gateway, "/allow/ngsi-ld/v1/entities"
                             "?attrs=name%2CPM25"), "PM25")
    # NGSI-LD type queries: every type named counts
    assert_policy_denied(get(gateway, "/types/ngsi-ld/v1/entities",
                             params={"type": "(AirQualityObserved|Person)"}),
                         "Person")


# ---- when nothing is filtered -----------------------------------------------

def test_filter_off_leaves_the_body(gateway):
    resp = get(gateway, "/off/ngsi-ld/v1/entities")
    assert resp.status_code == 200
    assert resp.headers["X-Mim-Decision"] == "permit"
    assert resp.content == (ENTITIES / "index.json").read_bytes()


def test_policy_without_ngsild_constraints_leaves_the_body(gateway):
    resp = get(gateway, "/plain/ngsi-ld/v1/entities")
    assert resp.status_code == 200
    assert resp.content == (ENTITIES / "index.json").read_bytes()


def test_broker_errors_pass(gateway):
    resp = get(gateway, "/deny/ngsi-ld/v1/entities/urn:ngsi-ld:Nothing:1")
    assert resp.status_code == 404


# ---- the rest of the chain --------------------------------------------------

def test_filtered_body_is_compressed_and_signed(gateway):
    target = "/signed/ngsi-ld/v1/entities"
    url = gateway.url(target)
    resp = request("GET", url, headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200, resp.body[:200]
    assert resp.headers["Content-Encoding"] == "gzip"
    jwks = request("GET", gateway.url("/.well-known/jwks.json")).body
    # the signature covers the bytes sent: the gzip of the filtered body
    verify_response(resp, "GET", url, jwks)
    expected = [narrow(e, deny=("PM25", "PM10", "location"))
                for e in broker()]
    assert gzip.decompress(resp.body) == compact(expected)

    # uncompressed: the signature covers the filtered entity itself
    target = "/signed/ngsi-ld/v1/entities/" + PARKING_1
    resp = request("GET", gateway.url(target))
    assert resp.status == 200
    verify_response(resp, "GET", gateway.url(target), jwks)
    assert "location" not in json.loads(resp.body)

    # so is the 502 that replaces what cannot be filtered
    target = "/signed/files/broken.json"
    resp = request("GET", gateway.url(target))
    assert resp.status == 502
    assert json.loads(resp.body)["error"] == "bad_gateway"
    verify_response(resp, "GET", gateway.url(target), jwks)
