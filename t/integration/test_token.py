"""The iSHARE-style token endpoint (docs/directives.md, "Caller identity"):
client assertions made here with python3-cryptography from the dev PKI,
the access tokens it issues checked with jwcrypto, and every kind of
rejection seen end to end."""

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from mimtest import paths, request
from mimtest.identity import (
    GATEWAY_ID, bearer, client_assertion, decode_jwt, party, post_token,
    start_gateway, token_form, verify_access_token)


@pytest.fixture
def p1(dev_certs):
    return party("participant1")


@pytest.fixture
def gateway(nginx, tmp_path):
    """The gateway without Redis: jti's are remembered in its zone."""
    return start_gateway(nginx, tmp_path)


def sign_es256_public():
    key = serialization.load_pem_private_key(
        (paths.CERTS / "sign-es256.key").read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def assert_oauth_error(resp, status, error, words):
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = json.loads(resp.body)
    assert body["error"] == error, body
    for word in words:
        assert word in body["error_description"], body
    return body


def test_token_issued_for_a_valid_assertion(gateway, p1):
    before = int(time.time())
    resp = post_token(gateway, token_form(p1.party_id, client_assertion(p1)))
    assert resp.status == 200, resp.body
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Pragma"] == "no-cache"
    body = json.loads(resp.body)
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600

    # a JWT signed with mim_signing_key, checked with jwcrypto
    claims = verify_access_token(body["access_token"], sign_es256_public())
    header, _ = decode_jwt(body["access_token"])
    assert header["alg"] == "ES256"
    assert claims["sub"] == "EU.EORI.NL000000001"
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["jti"]

    # and it opens mim_auth locations as participant1
    resp = request("GET", gateway.url("/api/x"),
                   headers=bearer(body["access_token"]))
    assert resp.status == 200, resp.body
    assert json.loads(resp.body)["party"] == "EU.EORI.NL000000001"
    assert "issued an access token to EU.EORI.NL000000001" \
        in gateway.error_log()


def test_token_ttl_and_algs_follow_the_configuration(nginx, tmp_path, p1):
    srv = start_gateway(nginx, tmp_path, signing_key="sign-rsa.key",
                        extra="mim_signing_alg RS256; mim_token_ttl 10m; "
                              "mim_token_algs RS256 PS256;")
    resp = post_token(srv, token_form(p1.party_id, client_assertion(p1)))
    assert resp.status == 200, resp.body
    body = json.loads(resp.body)
    assert body["expires_in"] == 600
    header, claims = decode_jwt(body["access_token"])
    assert header["alg"] == "RS256"
    assert claims["exp"] - claims["iat"] == 600

    resp = post_token(srv, token_form(p1.party_id,
                                      client_assertion(p1, alg="RS512")))
    assert_oauth_error(resp, 400, "invalid_client", ["RS512"])
    resp = post_token(srv, token_form(p1.party_id,
                                      client_assertion(p1, alg="PS256")))
    assert resp.status == 200, resp.body


# ---- the request ------------------------------------------------------------

def test_token_endpoint_takes_only_post(gateway):
    resp = request("GET", gateway.url("/connect/token"))
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"
    assert json.loads(resp.body)["error"] == "invalid_request"


def test_token_request_must_be_form_encoded(gateway, p1):
    body = token_form(p1.party_id, client_assertion(p1))
    resp = post_token(gateway, body, content_type="application/json")
    assert_oauth_error(resp, 400, "invalid_request",
                       ["application/x-www-form-urlencoded"])


@pytest.mark.parametrize("overrides, error, words", [
    ({"grant_type": "password"}, "unsupported_grant_type", ["password"]),
    ({"grant_type": None}, "invalid_request", ["grant_type"]),
    ({"scope": "openid"}, "invalid_scope", ["iSHARE"]),
    ({"scope": None}, "invalid_request", ["scope"]),
    ({"client_id": None}, "invalid_request", ["client_id"]),
    # RFC 6749 5.2: no or an unsupported client authentication
    ({"client_assertion_type": "urn:x"}, "invalid_client",
     ["client_assertion_type"]),
    ({"client_assertion_type": None}, "invalid_client",
     ["client_assertion_type"]),
    ({"client_assertion": None}, "invalid_client", ["client_assertion"]),
])
def test_token_request_members(gateway, p1, overrides, error, words):
    overrides = dict(overrides)
    client_id = overrides.pop("client_id", p1.party_id)
    body = token_form(client_id, client_assertion(p1), **overrides)
    assert_oauth_error(post_token(gateway, body), 400, error, words)


def test_token_request_member_given_twice(gateway, p1):
    body = token_form(p1.party_id, client_assertion(p1)) + "&scope=iSHARE"
    assert_oauth_error(post_token(gateway, body), 400, "invalid_request",
                       ["scope"])


def test_token_request_body_over_the_limit(gateway, p1):
    body = token_form(p1.party_id, client_assertion(p1)) \
        + "&pad=" + "x" * 40000
    assert_oauth_error(post_token(gateway, body), 400, "invalid_request",
                       ["too large"])


# ---- the assertion: each rejection once, end to end -----------------------

def hs256_with_public_key(p):
    """The classic confusion: HMAC keyed with the RSA public key."""
    return client_assertion(p, alg="HS256", key=p.public_pem())


def untrusted(p):
    return client_assertion(party("untrusted-participant1"))


REJECTIONS = {
    "alg none": (lambda p: client_assertion(p, alg="none"), ["alg"]),
    "HS256, public key as secret":
        (hs256_with_public_key, ["HS256"]),
    "jku header": (lambda p: client_assertion(
        p, header={"jku": "https://evil.example/jwks"}), ["jku"]),
    "x5u header": (lambda p: client_assertion(
        p, header={"x5u": "https://evil.example/cert"}), ["x5u"]),
    "expired": (lambda p: client_assertion(p, iat=int(time.time()) - 300),
                ["exp"]),
    "wrong aud": (lambda p: client_assertion(p, aud="EU.EORI.NLOTHER"),
                  ["aud"]),
    "aud array": (lambda p: client_assertion(p, aud=[GATEWAY_ID]), ["aud"]),
    "exp - iat > 30": (lambda p: client_assertion(p, lifetime=60),
                       ["exp"]),
    "no jti": (lambda p: client_assertion(p, drop_claims=["jti"]), ["jti"]),
    "no x5c": (lambda p: client_assertion(p, drop_header=["x5c"]),
               ["x5c"]),
    "untrusted CA": (untrusted, ["trust", "certificate"]),
    "signature by another key": (lambda p: client_assertion(
        p, key=party("participant2").key), ["signature"]),
}


@pytest.mark.parametrize("kind", sorted(REJECTIONS))
def test_assertion_rejected(gateway, p1, kind):
    make, words = REJECTIONS[kind]
    since = gateway.log_size()
    resp = post_token(gateway, token_form(p1.party_id, make(p1)))
    body = assert_oauth_error(resp, 400, "invalid_client", [])
    text = body["error_description"].lower()
    assert any(w.lower() in text for w in words), body
    assert "invalid_client" in gateway.error_log()[since:]


def test_party_id_must_be_the_certificate_serial_number(gateway, p1):
    # participant1's key and chain, claiming to be participant 2
    other = "EU.EORI.NL000000002"
    resp = post_token(gateway, token_form(
        other, client_assertion(p1, client_id=other)))
    body = assert_oauth_error(resp, 400, "invalid_client", [])
    assert "NL000000001" in body["error_description"], body


def test_client_id_must_be_the_assertion_issuer(gateway, p1):
    resp = post_token(gateway, token_form("EU.EORI.NL000000002",
                                          client_assertion(p1)))
    assert_oauth_error(resp, 400, "invalid_client", ["client_id"])


def test_oversize_assertion(gateway, p1):
    big = client_assertion(p1, claims={"pad": "x" * 17000})
    resp = post_token(gateway, token_form(p1.party_id, big))
    assert_oauth_error(resp, 400, "invalid_client", ["16384"])


def test_replayed_jti_is_refused_without_redis(gateway, p1):
    assertion = client_assertion(p1)
    form = token_form(p1.party_id, assertion)
    assert post_token(gateway, form).status == 200
    # both workers share the zone: try enough times to meet each
    for _ in range(4):
        assert_oauth_error(post_token(gateway, form), 400, "invalid_client",
                           ["jti", "used"])


def test_replay_cache_survives_a_reload(gateway, p1):
    form = token_form(p1.party_id, client_assertion(p1))
    assert post_token(gateway, form).status == 200
    gateway.reload()
    assert_oauth_error(post_token(gateway, form), 400, "invalid_client",
                       ["jti"])


def test_same_jti_from_two_parties_is_two_jtis(gateway, p1):
    jti = "shared-jti-value"
    p2 = party("participant2")
    assert post_token(gateway, token_form(
        p1.party_id, client_assertion(p1, jti=jti))).status == 200
    assert post_token(gateway, token_form(
        p2.party_id, client_assertion(p2, jti=jti))).status == 200


def test_crl_revokes_a_participant(nginx, tmp_path, p1):
    """mim_trust_crl: participant2 revoked by the intermediate's CRL."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certs = paths.CERTS
    issuer = x509.load_pem_x509_certificate(
        (certs / "intermediate.crt").read_bytes())
    issuer_key = serialization.load_pem_private_key(
        (certs / "intermediate.key").read_bytes(), password=None)
    p2 = party("participant2")
    now = datetime.datetime.now(datetime.timezone.utc)
    revoked = x509.RevokedCertificateBuilder() \
        .serial_number(p2.chain[0].serial_number) \
        .revocation_date(now - datetime.timedelta(minutes=5)).build()
    crl = x509.CertificateRevocationListBuilder() \
        .issuer_name(issuer.subject) \
        .last_update(now - datetime.timedelta(minutes=5)) \
        .next_update(now + datetime.timedelta(days=1)) \
        .add_revoked_certificate(revoked) \
        .sign(issuer_key, hashes.SHA256())
    crl_path = tmp_path / "intermediate.crl"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    srv = start_gateway(nginx, tmp_path, extra="mim_trust_crl %s;" % crl_path)
    assert post_token(srv, token_form(
        p1.party_id, client_assertion(p1))).status == 200
    resp = post_token(srv, token_form(p2.party_id, client_assertion(p2)))
    assert_oauth_error(resp, 400, "invalid_client", ["revoked"])

    # a CRL of the root alone says nothing of the intermediate's leaves:
    # fail closed
    root = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    root_key = serialization.load_pem_private_key(
        (certs / "ca.key").read_bytes(), password=None)
    root_crl = x509.CertificateRevocationListBuilder() \
        .issuer_name(root.subject) \
        .last_update(now - datetime.timedelta(minutes=5)) \
        .next_update(now + datetime.timedelta(days=1)) \
        .sign(root_key, hashes.SHA256())
    crl_path.write_bytes(root_crl.public_bytes(serialization.Encoding.PEM))
    srv.reload()
    resp = post_token(srv, token_form(p1.party_id, client_assertion(p1)))
    assert_oauth_error(resp, 400, "invalid_client", ["CRL"])


# ---- Redis: replay across nodes, outages ------------------------------------

def test_replay_across_two_gateways_sharing_redis(nginx, tmp_path, redis,
                                                  p1):
    a = start_gateway(nginx, tmp_path / "a", redis=redis)
    b = start_gateway(nginx, tmp_path / "b", redis=redis)
    assertion = client_assertion(p1)
    form = token_form(p1.party_id, assertion)

    assert post_token(a, form).status == 200
    # the jti is in Redis, with a TTL that outlives the assertion
    _, claims = decode_jwt(assertion)
    key = "mim:jti:%s:%s" % (p1.party_id, claims["jti"])
    assert redis.command("GET", key) == b"1"
    ttl = redis.command("PTTL", key)
    assert 30000 <= ttl <= 45000, ttl

    assert_oauth_error(post_token(b, form), 400, "invalid_client",
                       ["jti", "used"])
    assert_oauth_error(post_token(a, form), 400, "invalid_client", ["jti"])


def wait_for_status(srv, make_form, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        resp = post_token(srv, make_form())
        if resp.status == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.1)


def test_redis_killed_then_back(nginx, tmp_path, redis, p1):
    srv = start_gateway(nginx, tmp_path, redis=redis)
    fresh = lambda: token_form(p1.party_id, client_assertion(p1))  # noqa
    token = json.loads(post_token(srv, fresh()).body)["access_token"]

    redis.kill()
    resp = post_token(srv, fresh())
    body = assert_oauth_error(resp, 503, "temporarily_unavailable",
                              ["Redis"])
    assert "127.0.0.1:%d" % redis.port in body["error_description"]

    # mim_auth needs no Redis: verified tokens keep working
    assert request("GET", srv.url("/api/x"),
                   headers=bearer(token)).status == 200

    redis.start()
    resp = wait_for_status(srv, fresh, 200)
    assert resp.status == 200, resp.body
    # both workers reconnect
    for _ in range(6):
        assert post_token(srv, fresh()).status == 200
    assert "mim_redis: connected to" in srv.error_log()


def test_party_id_from_organization_identifier(nginx, tmp_path):
    """mim_party_id_from organizationIdentifier: an eIDAS-style seal
    (2.5.4.97 NTRNL-12345678) is party did:ishare:EU.NL.NTRNL-12345678."""
    import base64
    import datetime
    import types
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    certs = paths.CERTS
    issuer = x509.load_pem_x509_certificate(
        (certs / "intermediate.crt").read_bytes())
    issuer_key = serialization.load_pem_private_key(
        (certs / "intermediate.key").read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = x509.CertificateBuilder() \
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Seal Holder BV"),
            x509.NameAttribute(ObjectIdentifier("2.5.4.97"),
                               "NTRNL-12345678"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Seal Holder BV")])) \
        .issuer_name(issuer.subject).public_key(key.public_key()) \
        .serial_number(x509.random_serial_number()) \
        .not_valid_before(now - datetime.timedelta(days=1)) \
        .not_valid_after(now + datetime.timedelta(days=1)) \
        .add_extension(x509.KeyUsage(True, False, False, False, False,
                                     False, False, False, False), True) \
        .sign(issuer_key, hashes.SHA256())
    seal = types.SimpleNamespace(
        key=key, party_id="did:ishare:EU.NL.NTRNL-12345678",
        x5c=[base64.b64encode(c.public_bytes(serialization.Encoding.DER))
             .decode() for c in (leaf, issuer)])

    form = lambda: token_form(seal.party_id,  # noqa: E731
                              client_assertion(seal))
    default = start_gateway(nginx, tmp_path / "default")
    assert_oauth_error(post_token(default, form()), 400, "invalid_client",
                       ["serialNumber"])

    srv = start_gateway(nginx, tmp_path / "org",
                        extra="mim_party_id_from organizationIdentifier;")
    resp = post_token(srv, form())
    assert resp.status == 200, resp.body
    claims = verify_access_token(json.loads(resp.body)["access_token"],
                                 sign_es256_public())
    assert claims["sub"] == "did:ishare:EU.NL.NTRNL-12345678"
    # participant1 has no organizationIdentifier: refused there
    p1 = party("participant1")
    assert_oauth_error(post_token(srv, token_form(
        p1.party_id, client_assertion(p1))), 400, "invalid_client",
        ["organizationIdentifier"])
