"""ODRL enforcement in nginx: mim_policy and friends (docs/policies.md).

Each test starts the real nginx with conf/test/policy.conf.in and policies
written here in the forms real peers use (W3C ODRL context, DSP 2025-1
context, full IRIs), then checks permitted and denied requests, the 403
JSON bodies and the variables.
"""

import json
import time

import pytest
import requests

TARGET = "urn:mim:test:entities"
W3C = "http://www.w3.org/ns/odrl.jsonld"
DSP = "https://w3id.org/dspace/2025/1/context.jsonld"
DPV = "https://w3id.org/dpv#"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def policies(until):
    """The policies of conf/test/policy.conf.in; until: TIMED's end."""
    return {
        "READ_ONLY": {
            "@context": W3C, "@type": "Set", "uid": "urn:policy:read-only",
            "permission": [{"uid": "urn:rule:read", "target": TARGET,
                            "action": "read"}]},
        "PURPOSE": {
            "@context": [DSP], "@type": "Offer", "@id": "urn:policy:purpose",
            "target": TARGET,
            "permission": [{
                "action": "use",
                "constraint": [{
                    "leftOperand": "purpose", "operator": "isAnyOf",
                    "rightOperand": [DPV + "ServiceProvision",
                                     DPV + "ResearchAndDevelopment"]}]}]},
        "TIMED": {
            "@context": W3C, "@type": "Agreement", "uid": "urn:policy:timed",
            "assigner": "EU.EORI.NLSMARTCITY", "target": TARGET,
            "permission": [{
                "uid": "urn:rule:until", "action": "read",
                "constraint": [{
                    "leftOperand": "dateTime", "operator": "lt",
                    "rightOperand": {"@value": until,
                                     "@type": "xsd:dateTime"}}]}]},
        "LOCAL": {
            "@context": W3C, "@type": "Set", "uid": "urn:policy:local",
            "permission": [{
                "target": TARGET, "action": "read",
                "constraint": [{
                    "leftOperand": "virtualLocation", "operator": "isAnyOf",
                    "rightOperand": ["127.0.0.0/8", "::1/128"]}]}]},
        "NO_DELETE": {
            # full IRIs, as an expanded document would carry them
            "@context": W3C, "@type": "Set", "uid": "urn:policy:no-delete",
            "conflict": "prohibit",
            "permission": [{"uid": "urn:rule:use", "target": TARGET,
                            "action": "http://www.w3.org/ns/odrl/2/use"}],
            "prohibition": [{"uid": "urn:rule:no-delete", "target": TARGET,
                             "action": "odrl:delete"}]},
        "ASSIGNEE": {
            "@context": W3C, "@type": "Agreement",
            "uid": "urn:policy:assignee", "assigner": "EU.EORI.NLSMARTCITY",
            "assignee": "EU.EORI.NL000000001", "target": TARGET,
            "permission": [{"uid": "urn:rule:party-read", "action": "read"}]},
        "SPATIAL": {
            "@context": W3C, "@type": "Set", "uid": "urn:policy:spatial",
            "permission": [{
                "target": TARGET, "action": "read",
                "constraint": [{
                    "leftOperand": "spatial", "operator": "eq",
                    "rightOperand": {
                        "@id": "https://sws.geonames.org/3109718/"}}]}]},
    }


@pytest.fixture
def gateway(nginx, tmp_path):
    def start(until=None):
        until = until or iso(time.time() + 3600)
        files = {}
        for name, doc in policies(until).items():
            path = tmp_path / ("%s.jsonld" % name.lower())
            path.write_text(json.dumps(doc, indent=2))
            files[name] = str(path)
        return nginx("policy", **files)
    return start


def get(srv, path, method="GET", **kw):
    return requests.request(method, srv.url(path), timeout=10, **kw)


def assert_denied(resp, rule=None, mentions=()):
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["X-Mim-Decision"] == "deny"
    body = resp.json()
    assert body["error"] == "policy_denied"
    assert isinstance(body["reasons"], list) and body["reasons"]
    assert all(isinstance(reason, str) for reason in body["reasons"])
    if rule is not None:
        assert body["rule"] == rule
    text = " ".join(body["reasons"])
    for word in mentions:
        assert word in text, (word, body["reasons"])
    return body


def assert_permitted(resp):
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert resp.headers["X-Mim-Decision"] == "permit"
    assert resp.json() == {"entities": []}


# ---- actions ----------------------------------------------------------------

def test_read_only_permits_get_and_head(gateway):
    srv = gateway()
    assert_permitted(get(srv, "/read-only/x"))
    resp = get(srv, "/read-only/x", "HEAD")
    assert resp.status_code == 200 and resp.headers["X-Mim-Action"] == "read"


@pytest.mark.parametrize("method,action", [("POST", "modify"),
                                           ("PUT", "modify"),
                                           ("PATCH", "modify"),
                                           ("DELETE", "delete")])
def test_read_only_denies_writes(gateway, method, action):
    srv = gateway()
    resp = get(srv, "/read-only/x", method, data=b"{}")
    body = assert_denied(resp)
    assert resp.headers["X-Mim-Action"] == action
    assert body["policy"].endswith("read_only.jsonld")


def test_unknown_method_is_its_own_action_and_denied(gateway):
    srv = gateway()
    resp = get(srv, "/read-only/x", "OPTIONS")
    assert_denied(resp)
    assert resp.headers["X-Mim-Action"] == "options"


def test_mim_policy_action_maps_a_method(gateway):
    srv = gateway()
    resp = get(srv, "/read-only-post-is-read/x", "POST", data=b"{}")
    assert_permitted(resp)
    assert resp.headers["X-Mim-Action"] == "read"


def test_use_covers_modify_but_prohibition_wins_for_delete(gateway):
    srv = gateway()
    assert_permitted(get(srv, "/no-delete/x"))
    assert_permitted(get(srv, "/no-delete/x", "PUT", data=b"{}"))
    assert_denied(get(srv, "/no-delete/x", "DELETE"),
                  rule="urn:rule:no-delete")


# ---- target -----------------------------------------------------------------

def test_other_target_is_denied(gateway):
    srv = gateway()
    assert_denied(get(srv, "/other-target/x"))


# ---- purpose ----------------------------------------------------------------

def test_purpose_required(gateway):
    srv = gateway()
    assert_denied(get(srv, "/purpose/x"), mentions=["purpose"])


def test_purpose_declared_in_header(gateway):
    srv = gateway()
    resp = get(srv, "/purpose/x",
               headers={"X-Data-Purpose": DPV + "ResearchAndDevelopment"})
    assert_permitted(resp)


def test_purpose_list_in_header(gateway):
    srv = gateway()
    resp = get(srv, "/purpose/x", headers={
        "X-Data-Purpose": DPV + "ResearchAndDevelopment, "
                          + DPV + "ServiceProvision"})
    assert_permitted(resp)


def test_one_undeclared_purpose_spoils_the_list(gateway):
    # every declared purpose must be one the policy allows: data asked for
    # marketing and service provision would also serve marketing
    srv = gateway()
    resp = get(srv, "/purpose/x", headers={
        "X-Data-Purpose": DPV + "Marketing, " + DPV + "ServiceProvision"})
    assert_denied(resp, mentions=["Marketing"])


def test_wrong_purpose_denied(gateway):
    srv = gateway()
    resp = get(srv, "/purpose/x", headers={"X-Data-Purpose": DPV + "Marketing"})
    assert_denied(resp, mentions=["purpose"])


def test_purpose_header_name_is_configurable(gateway):
    srv = gateway()
    purpose = {"X-Purpose": DPV + "ServiceProvision"}
    assert_permitted(get(srv, "/purpose-header/x", headers=purpose))
    resp = get(srv, "/purpose-header/x",
               headers={"X-Data-Purpose": DPV + "ServiceProvision"})
    assert_denied(resp, mentions=["purpose"])


# ---- time, place, party -------------------------------------------------------

def test_permitted_before_the_end(gateway):
    srv = gateway(until=iso(time.time() + 3600))
    assert_permitted(get(srv, "/timed/x"))


def test_denied_after_the_end(gateway):
    srv = gateway(until=iso(time.time() - 60))
    assert_denied(get(srv, "/timed/x"), mentions=["dateTime"])


def test_virtual_location_cidr(gateway):
    srv = gateway()
    assert_permitted(get(srv, "/local/x"))


def test_assignee(gateway):
    srv = gateway()
    good = {"X-Test-Party": "EU.EORI.NL000000001"}
    assert_permitted(get(srv, "/assignee/x", headers=good))
    assert_denied(get(srv, "/assignee/x",
                      headers={"X-Test-Party": "EU.EORI.NL000000002"}))
    assert_denied(get(srv, "/assignee/x"))


def test_spatial_from_configuration(gateway):
    srv = gateway()
    assert_permitted(get(srv, "/spatial/santander/x"))
    assert_denied(get(srv, "/spatial/elsewhere/x"), mentions=["spatial"])


# ---- several policies, none ---------------------------------------------------

def test_all_policies_must_permit(gateway):
    srv = gateway()
    purpose = {"X-Data-Purpose": DPV + "ServiceProvision"}
    assert_permitted(get(srv, "/both/x", headers=purpose))
    # read-only permits, purpose does not
    body = assert_denied(get(srv, "/both/x"), mentions=["purpose"])
    assert body["policy"].endswith("purpose.jsonld")
    # purpose permits a write (use covers modify), read-only does not
    body = assert_denied(get(srv, "/both/x", "POST", data=b"{}",
                             headers=purpose))
    assert body["policy"].endswith("read_only.jsonld")


def test_location_without_policy_is_untouched(gateway):
    srv = gateway()
    resp = get(srv, "/open/x", "DELETE")
    assert resp.status_code == 200
    assert "X-Mim-Decision" not in resp.headers   # nginx drops empty values


def test_denials_are_logged_with_reasons(gateway):
    srv = gateway()
    start = srv.log_size()
    assert_denied(get(srv, "/purpose/x"))
    match = srv.wait_for_log(r"mim_policy .* denied read on "
                             r"\"urn:mim:test:entities\": (.*)", start=start)
    assert "no purpose declared" in match.group(1)


# ---- configuration errors -------------------------------------------------------

def test_malformed_policy_fails_nginx_t(nginx_check, tmp_path):
    good = tmp_path / "good.jsonld"
    good.write_text(json.dumps(policies(iso(time.time()))["READ_ONLY"]))
    bad = tmp_path / "bad.jsonld"
    bad.write_text('{"@type": "Set", "permission": [ {"action": "read",}\n]}')
    files = {name: str(good) for name in policies("x")}
    files["PURPOSE"] = str(bad)
    rc, out = nginx_check("policy", **files)
    assert rc != 0
    assert 'mim_policy "%s"' % bad in out
    assert "line" in out


def test_unknown_operator_denies_with_the_reason(nginx, tmp_path):
    # docs/policies.md: what the engine does not know makes its constraint
    # fail, with the reason; the policy still loads (agreements arrive at
    # run time and must never stop the gateway)
    docs = policies(iso(time.time() + 3600))
    docs["PURPOSE"]["permission"][0]["constraint"][0]["operator"] = \
        "isRoughly"
    files = {}
    for name, doc in docs.items():
        path = tmp_path / ("%s.jsonld" % name.lower())
        path.write_text(json.dumps(doc))
        files[name] = str(path)
    srv = nginx("policy", **files)
    resp = get(srv, "/purpose/x",
               headers={"X-Data-Purpose": DPV + "ServiceProvision"})
    assert_denied(resp, mentions=["isRoughly"])


def test_missing_policy_file_fails_nginx_t(nginx_check, tmp_path):
    good = tmp_path / "good.jsonld"
    good.write_text(json.dumps(policies(iso(time.time()))["READ_ONLY"]))
    files = {name: str(good) for name in policies("x")}
    files["TIMED"] = str(tmp_path / "nowhere.jsonld")
    rc, out = nginx_check("policy", **files)
    assert rc != 0
    assert "nowhere.jsonld" in out
