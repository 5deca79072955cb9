"""mim_auth (docs/directives.md, "Caller identity"): Bearer credentials,
the gateway's own access tokens and VP/VC JWTs, the variables, the
verification cache in the mim_zone.  Credentials are made here with
python3-cryptography, independently of the gateway's code."""

import json
import re
import time

import pytest
from cryptography.hazmat.primitives import serialization

from mimtest import paths, request
from mimtest.identity import (
    GATEWAY_ID, DidKeyHolder, DidWebIssuer, bearer, get_token, party,
    sign_jwt, start_gateway)

VERIFIED = re.compile(r"mim_auth: verified a (\w+) credential of (\S+?),")


def gateway_key():
    return serialization.load_pem_private_key(
        (paths.CERTS / "sign-es256.key").read_bytes(), password=None)


def own_token(lifetime=600, key=None, alg="ES256", typ="at+jwt", **claims):
    """An access token as the gateway makes them, signed here with the
    gateway's key (or another)."""
    now = int(time.time())
    body = {"iss": GATEWAY_ID, "aud": GATEWAY_ID,
            "sub": "EU.EORI.NL000000002", "jti": "t-%d" % time.time_ns(),
            "iat": now, "exp": now + lifetime}
    body.update(claims)
    return sign_jwt({"alg": alg, "typ": typ}, body,
                    key if key is not None else gateway_key(), alg)


def get(srv, path, token=None, headers=None):
    headers = dict(headers or {})
    if token is not None:
        headers.update(bearer(token))
    return request("GET", srv.url(path), headers=headers)


def assert_rejected(resp, status, error, words=()):
    assert resp.status == status, (resp.status, resp.body)
    challenge = resp.headers["WWW-Authenticate"]
    body = json.loads(resp.body)
    assert body["error"] == error, body
    if error == "unauthorized":
        assert challenge == "Bearer"
    else:
        assert challenge.startswith('Bearer error="%s", error_description="'
                                    % error), challenge
        described = challenge.split('error_description="', 1)[1][:-1]
        assert described == body["error_description"].replace('"', "'")
    for word in words:
        assert word in body["error_description"], body
    return body


@pytest.fixture
def gateway(nginx, tmp_path, dev_certs):
    return start_gateway(nginx, tmp_path)


# ---- no, bad and good access tokens ----------------------------------------

def test_missing_credential_is_401_bearer(gateway):
    assert_rejected(get(gateway, "/api/x"), 401, "unauthorized",
                    ["Bearer"])
    resp = get(gateway, "/api/x",
               headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert_rejected(resp, 401, "unauthorized")
    # open locations are not guarded, and the variables are empty there
    resp = get(gateway, "/open/x")
    assert resp.status == 200
    assert json.loads(resp.body)["party"] == ""


@pytest.mark.parametrize("value", ["Bearer ", "Bearer    ",
                                   "Bearer a\"b.c.d"])
def test_malformed_bearer_is_invalid_token(gateway, value):
    resp = get(gateway, "/api/x", headers={"Authorization": value})
    assert_rejected(resp, 401, "invalid_token", ["malformed"])


def test_valid_access_token_passes_with_its_identity(gateway):
    token = get_token(gateway)
    resp = get(gateway, "/api/entities", token)
    assert resp.status == 200, resp.body
    assert resp.headers["X-Mim-Party"] == "EU.EORI.NL000000001"
    assert resp.headers["X-Mim-Subject"] == "EU.EORI.NL000000001"
    assert resp.headers["X-Mim-Method"] == "token"
    echoed = json.loads(resp.body)
    assert echoed["party"] == "EU.EORI.NL000000001"
    assert echoed["method"] == "token"
    assert echoed["issuer"] == GATEWAY_ID
    # lower-case scheme is the same scheme
    resp = get(gateway, "/ishare/x",
               headers={"Authorization": "bearer " + token})
    assert resp.status == 200


@pytest.mark.parametrize("kind, make, words", [
    ("garbage", lambda: "abc.def.ghi", []),
    ("expired", lambda: own_token(lifetime=-120), ["expired"]),
    ("not ours", lambda: own_token(iss="EU.EORI.NLOTHER",
                                   aud="EU.EORI.NLOTHER"),
     ["EU.EORI.NLOTHER", "not by this gateway"]),
    ("wrong aud", lambda: own_token(aud="EU.EORI.NLOTHER"), ["aud"]),
    ("aud array", lambda: own_token(aud=[GATEWAY_ID]), ["aud"]),
    ("other key", lambda: own_token(key=party("participant1").key,
                                    alg="RS256"), []),
    ("alg none", lambda: own_token(alg="none", key=b""), ["none"]),
    ("HS256, public key as secret", lambda: own_token(
        alg="HS256", key=gateway_key().public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)), ["HS256"]),
    ("typ", lambda: own_token(typ="JWT"), ["typ"]),
])
def test_invalid_access_token(gateway, kind, make, words):
    since = gateway.log_size()
    resp = get(gateway, "/api/x", make())
    body = assert_rejected(resp, 401, "invalid_token", words)
    assert resp.headers["X-Mim-Error"] == body["error_description"]
    assert "mim_auth: invalid token" in gateway.error_log()[since:]


def test_identity_survives_an_internal_redirect(gateway):
    token = get_token(gateway)
    resp = get(gateway, "/redirect/x", token)
    assert resp.status == 200, resp.body
    assert json.loads(resp.body)["party"] == "EU.EORI.NL000000001"
    assert_rejected(get(gateway, "/redirect/x"), 401, "unauthorized")


def test_a_token_signed_here_with_the_gateway_key_passes(gateway):
    # the independent signer agrees with the gateway's verifier
    resp = get(gateway, "/api/x", own_token())
    assert resp.status == 200, resp.body
    assert resp.headers["X-Mim-Party"] == "EU.EORI.NL000000002"


def test_oversize_token(nginx, tmp_path):
    srv = start_gateway(nginx, tmp_path,
                        extra="large_client_header_buffers 4 64k;")
    token = own_token(pad="x" * 17000)
    assert_rejected(get(srv, "/api/x", token), 401, "invalid_token",
                    ["16384"])


# ---- which credentials a location takes -----------------------------------

def vc_setup(tmp_path, trusted_types=("MembershipCredential",)):
    issuer = DidWebIssuer(tmp_path / "did-web", "issuer.example")
    return issuer, [(issuer.did, list(trusted_types))]


def presentation(issuer, holder=None, cred_type="MembershipCredential",
                 role="operator", **vp_args):
    holder = holder or DidKeyHolder()
    vc = issuer.credential(holder.did, cred_type, {"role": role})
    return holder, holder.presentation([vc], **vp_args)


def test_vc_path_end_to_end(nginx, tmp_path):
    issuer, trusted = vc_setup(tmp_path)
    srv = start_gateway(nginx, tmp_path, trusted=trusted)
    holder, vp = presentation(issuer)

    resp = get(srv, "/vc/data", vp)
    assert resp.status == 200, resp.body
    assert resp.headers["X-Mim-Party"] == holder.did
    assert resp.headers["X-Mim-Method"] == "vc"
    assert resp.headers["X-Mim-Role"] == "operator"
    echoed = json.loads(resp.body)
    assert echoed["party"] == holder.did
    assert echoed["role"] == "operator"
    assert echoed["issuer"] == issuer.did
    assert "MembershipCredential" in echoed["types"].split()

    # mim_auth on takes it too; ishare does not (valid, but not allowed)
    assert get(srv, "/api/data", vp).status == 200
    body = assert_rejected(get(srv, "/ishare/data", vp), 403,
                           "insufficient_scope", ["verifiable"])
    assert holder.did in body["error_description"]


def test_access_token_in_a_vc_location_is_403(gateway):
    token = get_token(gateway)
    assert_rejected(get(gateway, "/vc/x", token), 403, "insufficient_scope",
                    ["access token"])


def test_vc_from_an_untrusted_issuer_is_401(nginx, tmp_path):
    trusted_issuer, trusted = vc_setup(tmp_path)
    rogue = DidWebIssuer(tmp_path / "did-web", "rogue.example")
    srv = start_gateway(nginx, tmp_path, trusted=trusted)
    _, vp = presentation(rogue)
    body = assert_rejected(get(srv, "/vc/x", vp), 401, "invalid_token")
    assert "rogue.example" in body["error_description"]


def test_vc_of_an_untrusted_type_is_401(nginx, tmp_path):
    issuer, trusted = vc_setup(tmp_path)
    srv = start_gateway(nginx, tmp_path, trusted=trusted)
    _, vp = presentation(issuer, cred_type="AdminCredential")
    body = assert_rejected(get(srv, "/vc/x", vp), 401, "invalid_token")
    assert "AdminCredential" in body["error_description"]


def test_vp_by_someone_else_than_the_subject_is_401(nginx, tmp_path):
    issuer, trusted = vc_setup(tmp_path)
    srv = start_gateway(nginx, tmp_path, trusted=trusted)
    subject, thief = DidKeyHolder(), DidKeyHolder()
    vc = issuer.credential(subject.did, "MembershipCredential",
                           {"role": "operator"})
    assert_rejected(get(srv, "/vc/x", thief.presentation([vc])), 401,
                    "invalid_token")


def test_vp_audience(nginx, tmp_path):
    issuer, trusted = vc_setup(tmp_path)
    srv = start_gateway(nginx, tmp_path, trusted=trusted,
                        extra="mim_vp_audience %s;" % GATEWAY_ID)
    holder = DidKeyHolder("P-256")
    _, without = presentation(issuer, holder)
    assert_rejected(get(srv, "/vc/x", without), 401, "invalid_token",
                    ["aud"])
    _, other = presentation(issuer, holder, aud="EU.EORI.NLOTHER")
    assert_rejected(get(srv, "/vc/x", other), 401, "invalid_token", ["aud"])
    _, good = presentation(issuer, holder, aud=GATEWAY_ID)
    assert get(srv, "/vc/x", good).status == 200


def test_satisfy_any_lets_another_module_admit(gateway):
    # allow 127.0.0.1 admits the loopback client without a token
    resp = get(gateway, "/any/x")
    assert resp.status == 200
    # a valid token still sets the identity
    token = get_token(gateway)
    resp = get(gateway, "/any/x", token)
    assert resp.status == 200
    assert resp.headers["X-Mim-Party"] == "EU.EORI.NL000000001"


# ---- the verification cache -----------------------------------------------

def verifications(srv, since=0):
    return VERIFIED.findall(srv.error_log()[since:])


def test_one_verification_then_the_cache(gateway):
    """Twelve requests on twelve connections, whichever worker takes them:
    one verification, the zone is shared."""
    token = get_token(gateway)
    since = gateway.log_size()
    for _ in range(12):
        assert get(gateway, "/api/x", token).status == 200
    assert verifications(gateway, since) == [("token",
                                              "EU.EORI.NL000000001")]


def test_cache_ends_at_the_token_expiry(nginx, tmp_path):
    srv = start_gateway(nginx, tmp_path, extra="mim_leeway 0s;")
    token = own_token(lifetime=2)
    assert get(srv, "/api/x", token).status == 200
    assert get(srv, "/api/x", token).status == 200
    time.sleep(3.1)
    assert_rejected(get(srv, "/api/x", token), 401, "invalid_token",
                    ["expired"])


def test_cache_ttl(nginx, tmp_path):
    srv = start_gateway(nginx, tmp_path, extra="mim_auth_cache_ttl 1s;")
    token = own_token()
    since = srv.log_size()
    assert get(srv, "/api/x", token).status == 200
    assert get(srv, "/api/x", token).status == 200
    assert len(verifications(srv, since)) == 1
    time.sleep(2.1)
    assert get(srv, "/api/x", token).status == 200
    assert len(verifications(srv, since)) == 2


def test_a_reload_never_trusts_old_verifications(nginx, tmp_path):
    # verified and cached under the ES256 key ...
    srv = start_gateway(nginx, tmp_path)
    token = own_token()
    assert get(srv, "/api/x", token).status == 200
    # ... the key changes: the cached result must not outlive the config
    srv.reload(SIGNING_KEY=paths.CERTS / "sign-ed25519.key")
    assert_rejected(get(srv, "/api/x", token), 401, "invalid_token")


def test_without_a_zone_every_request_verifies(nginx, tmp_path):
    srv = start_gateway(nginx, tmp_path, template=str(
        write_zoneless_template(tmp_path)))
    token = own_token()
    since = srv.log_size()
    for _ in range(3):
        assert get(srv, "/api/x", token).status == 200
    assert len(verifications(srv, since)) == 3


def write_zoneless_template(tmp_path):
    text = (paths.CONF_TEMPLATES / "auth.conf.in").read_text()
    text = re.sub(r"^\s*mim_zone .*$", "", text, flags=re.M)
    text = re.sub(r"location = /connect/token \{[^}]*\}", "", text)
    path = tmp_path / "auth-zoneless.conf.in"
    path.write_text(text)
    return path
