"""mim_auth feeding mim_policy: the verified caller is the ODRL assignee
and its credential's claims are urn:mim:claim:NAME left operands
(docs/policies.md, docs/directives.md).  Tokens and presentations are
made here with python3-cryptography, independently of the gateway."""

import json

from mimtest import paths, request
from mimtest.identity import (
    DidKeyHolder, DidWebIssuer, bearer, get_token, party,
    write_trusted_issuers)

TARGET_POLICY = {"@context": "http://www.w3.org/ns/odrl.jsonld",
                 "@type": "Agreement", "assigner": "EU.EORI.NLSMARTCITY"}


def start(nginx, tmp_path, trusted):
    did_web = tmp_path / "did-web"
    did_web.mkdir(parents=True, exist_ok=True)
    issuers = write_trusted_issuers(tmp_path / "trusted-issuers.json",
                                    trusted)
    party_policy = dict(TARGET_POLICY, uid="urn:policy:party",
                        assignee="EU.EORI.NL000000001",
                        permission=[{"uid": "urn:rule:party-read",
                                     "action": "read"}])
    role_policy = dict(TARGET_POLICY, uid="urn:policy:role", permission=[{
        "uid": "urn:rule:operators-read", "action": "read",
        "constraint": [{"leftOperand": "urn:mim:claim:role",
                        "operator": "eq", "rightOperand": "operator"}]}])
    files = {}
    for name, doc in (("PARTY_POLICY", party_policy),
                      ("ROLE_POLICY", role_policy)):
        path = tmp_path / ("%s.jsonld" % name.lower())
        path.write_text(json.dumps(doc))
        files[name] = str(path)
    return nginx("auth-policy", SIGNING_KEY=paths.CERTS / "sign-es256.key",
                 REDIS="# no mim_redis", ISSUERS=issuers, DID_WEB=did_web,
                 AUTH_EXTRA="", **files)


def get(srv, path, token):
    return request("GET", srv.url(path), headers=bearer(token))


def test_assignee_is_the_verified_party(nginx, tmp_path):
    srv = start(nginx, tmp_path, [])
    mine = get_token(srv, party("participant1"))
    theirs = get_token(srv, party("participant2"))

    resp = get(srv, "/policy/party/x", mine)
    assert resp.status == 200, resp.body
    assert resp.headers["X-Mim-Party"] == "EU.EORI.NL000000001"

    resp = get(srv, "/policy/party/x", theirs)
    assert resp.status == 403, resp.body
    body = json.loads(resp.body)
    assert body["error"] == "policy_denied"
    assert "EU.EORI.NL000000002" in " ".join(body["reasons"])


def test_claims_reach_the_policy(nginx, tmp_path):
    issuer = DidWebIssuer(tmp_path / "did-web", "issuer.example")
    srv = start(nginx, tmp_path, [(issuer.did, ["MembershipCredential"])])

    operator = DidKeyHolder()
    vp = operator.presentation([issuer.credential(
        operator.did, "MembershipCredential", {"role": "operator"})])
    resp = get(srv, "/policy/role/x", vp)
    assert resp.status == 200, resp.body
    assert resp.headers["X-Mim-Role"] == "operator"

    reader = DidKeyHolder()
    vp = reader.presentation([issuer.credential(
        reader.did, "MembershipCredential", {"role": "reader"})])
    resp = get(srv, "/policy/role/x", vp)
    assert resp.status == 403, resp.body
    assert "role" in " ".join(json.loads(resp.body)["reasons"])


def test_policy_without_identity_denies(nginx, tmp_path):
    # no credential: mim_auth answers 401 before any policy is asked
    srv = start(nginx, tmp_path, [])
    resp = request("GET", srv.url("/policy/party/x"))
    assert resp.status == 401
