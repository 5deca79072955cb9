"""Verifiable credentials made by an independent implementation
(python3-jwcrypto, python3-cryptography) and checked by trust/mim_vc.c
(docs/identity.md), through t/integration/vc_driver.c compiled here once
against build/libmimcore.a.

Holders and issuers are fresh Ed25519 and P-256 did:key parties, a did:web
issuer whose DID document is a file in a did:web directory, and a URL
issuer with a listed RSA key.  Every token is also verified with jwcrypto,
so that a refusal by the gateway is about the rule under test and not
about a malformed token.
"""
import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk, jws

from mimtest import paths

HERE = Path(__file__).resolve().parent
V1 = "https://www.w3.org/2018/credentials/v1"
V2 = "https://www.w3.org/ns/credentials/v2"
AUD = "https://gateway.example"
NONCE = "n-8f3c"
NOW = int(time.time())


# ---- the driver --------------------------------------------------------------

@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    lib = paths.BUILD / "libmimcore.a"
    if not lib.is_file():
        pytest.fail("%s does not exist: run make first" % lib, pytrace=False)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openssl",
                            "jansson"], check=True, stdout=subprocess.PIPE,
                           text=True).stdout.split()
    exe = tmp_path_factory.mktemp("vc-driver") / "vc_driver"
    proc = subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                           "-I", str(paths.ROOT / "trust"), "-o", str(exe),
                           str(HERE / "vc_driver.c"), str(lib)] + flags,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        pytest.fail("cannot build vc_driver:\n" + proc.stdout, pytrace=False)
    return exe


class Gateway:
    """The trusted-issuers file, the did:web directory and the driver."""

    def __init__(self, exe, workdir):
        self.exe = exe
        self.dir = workdir
        self.web = workdir / "did-web"
        self.web.mkdir()
        self.issuers = []

    def trust(self, entry):
        self.issuers.append(entry)

    def publish(self, did, document):
        """did:web:host[%3Aport][:path...] -> DIR/host[:port]/path/did.json"""
        parts = did[len("did:web:"):].split(":")
        where = self.web.joinpath(parts[0].replace("%3A", ":"), *parts[1:])
        where.mkdir(parents=True, exist_ok=True)
        (where / "did.json").write_text(json.dumps(document, indent=2))

    def verify(self, token, *options, now=NOW):
        issuers = self.dir / "issuers.json"
        issuers.write_text(json.dumps({"issuers": self.issuers}, indent=2))
        token_file = self.dir / "token.jwt"
        token_file.write_text(token)
        proc = subprocess.run([str(self.exe), str(issuers), str(self.web),
                               str(token_file), str(now)] + list(options),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode == 0, json.loads(proc.stdout)

    def accept(self, token, *options):
        ok, out = self.verify(token, *options)
        assert ok, out
        assert out["auth_method"] == "vc"
        return out

    def refuse(self, token, code, words, *options):
        ok, out = self.verify(token, *options)
        assert not ok, out
        assert out["error"] == code, out
        assert words in out["message"], out
        return out


@pytest.fixture
def gw(driver, tmp_path):
    return Gateway(driver, tmp_path)


# ---- parties, independently of the C code --------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data):
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def multikey(public):
    """multibase base58btc of the multicodec-prefixed public key"""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = b"\xed\x01" + public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = b"\x80\x24" + public.public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.CompressedPoint)
    return "z" + base58(raw)


class Party:
    def __init__(self, kind, did=None, kid=None):
        if kind == "Ed25519":
            self.key, self.alg = ed25519.Ed25519PrivateKey.generate(), "EdDSA"
        elif kind == "P-256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
        else:
            self.key = rsa.generate_private_key(65537, 2048)
            self.alg = "RS256"
        if did is None:
            mb = multikey(self.key.public_key())
            did, kid = "did:key:" + mb, "did:key:%s#%s" % (mb, mb)
        self.did, self.kid = did, kid
        self.jwk = jwk.JWK.from_pyca(self.key)

    def public_jwk(self, **extra):
        d = json.loads(self.jwk.export_public())
        d.update(extra)
        return d

    def sign(self, claims, alg=None, **header):
        h = {"alg": alg or self.alg}
        if self.kid:
            h["kid"] = self.kid
        h.update(header)
        h = {k: v for k, v in h.items() if v is not None}
        s = jws.JWS(json.dumps(claims).encode())
        s.add_signature(self.jwk, alg=h["alg"], protected=json.dumps(h))
        token = s.serialize(compact=True)
        # the token is good JOSE: jwcrypto verifies what it made
        check = jws.JWS()
        check.deserialize(token)
        check.verify(jwk.JWK.from_json(self.jwk.export_public()),
                     alg=h["alg"])
        return token


def vc11(issuer, subject, types, claims=None, exp=NOW + 3600, **extra):
    cs = {"id": subject}
    cs.update(claims or {})
    body = {"iss": issuer.did, "sub": subject, "nbf": NOW - 60, "exp": exp,
            "jti": "urn:uuid:c1",
            "vc": {"@context": [V1], "type": ["VerifiableCredential"] + types,
                   "credentialSubject": cs}}
    body.update(extra)
    return issuer.sign(body)


def vp11(holder, vcs, **extra):
    body = {"iss": holder.did, "aud": AUD, "nonce": NONCE, "nbf": NOW - 5,
            "exp": NOW + 300, "jti": "urn:uuid:p1",
            "vp": {"@context": [V1], "type": ["VerifiablePresentation"],
                   "verifiableCredential": vcs}}
    body.update(extra)
    return holder.sign(body)


def vc20(issuer, subject, types, claims=None):
    cs = {"id": subject}
    cs.update(claims or {})
    return issuer.sign({
        "@context": [V2], "id": "urn:uuid:c2",
        "type": ["VerifiableCredential"] + types, "issuer": issuer.did,
        "validFrom": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                   time.gmtime(NOW - 60)),
        "validUntil": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                    time.gmtime(NOW + 7200)),
        "credentialSubject": cs}, typ="vc+jwt")


def vp20(holder, vcs):
    return holder.sign({
        "@context": [V2], "type": ["VerifiablePresentation"],
        "holder": holder.did, "aud": AUD, "nonce": NONCE, "exp": NOW + 300,
        "verifiableCredential": [
            {"@context": [V2], "type": "EnvelopedVerifiableCredential",
             "id": "data:application/vc+jwt," + v} for v in vcs]},
        typ="vp+jwt")


MEMBERSHIP = [{"type": "MembershipCredential",
               "claims": [{"name": "role",
                           "allowedValues": ["reader", "operator"]}]}]


# ---- accepted --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Ed25519", "P-256"])
def test_vp11_from_did_key_parties(gw, kind):
    issuer, holder = Party(kind), Party(kind)
    gw.trust({"id": issuer.did, "credentials": MEMBERSHIP})
    vc = vc11(issuer, holder.did, ["MembershipCredential"],
              {"role": "operator", "zones": ["north", "port"], "level": 2,
               "address": {"city": "Ghent"}})
    out = gw.accept(vp11(holder, [vc]), "--aud", AUD, "--nonce", NONCE)
    assert out["party"] == holder.did
    assert out["subject"] == holder.did
    assert out["issuer"] == issuer.did
    assert out["credential_types"] == "MembershipCredential"
    assert out["claims"] == {"role": ["operator"], "zones": ["north", "port"],
                             "level": ["2"]}
    assert out["expires"] == NOW + 300
    assert out["jti"] == "urn:uuid:p1"


def test_mixed_key_types_and_two_issuers(gw):
    a, b, holder = Party("P-256"), Party("Ed25519"), Party("P-256")
    gw.trust({"id": a.did, "credentials": MEMBERSHIP})
    gw.trust({"id": b.did})
    token = vp11(holder, [
        vc11(a, holder.did, ["MembershipCredential"], {"role": "reader"}),
        vc11(b, holder.did, ["ParkingPermit"], {"zone": "P3"},
             exp=NOW + 120)])
    out = gw.accept(token)
    assert out["issuer"] == a.did
    assert out["credential_types"] == "MembershipCredential ParkingPermit"
    assert out["claims"] == {"role": ["reader"], "zone": ["P3"]}
    assert out["expires"] == NOW + 120


def test_vc_alone_names_its_subject(gw):
    issuer, subject = Party("Ed25519"), Party("Ed25519")
    gw.trust({"id": issuer.did})
    out = gw.accept(vc11(issuer, subject.did, ["ParkingPermit"]))
    assert out["party"] == subject.did
    assert out["jti"] == "urn:uuid:c1"
    assert out["expires"] == NOW + 3600


def test_vc20_and_enveloping_vp20(gw):
    issuer, holder = Party("P-256"), Party("Ed25519")
    gw.trust({"id": issuer.did})
    vc = vc20(issuer, holder.did, ["ParkingPermit"], {"spots": [1, 2]})
    out = gw.accept(vc)
    assert out["claims"] == {"spots": ["1", "2"]}
    assert out["expires"] == NOW + 7200
    out = gw.accept(vp20(holder, [vc]), "--aud", AUD, "--nonce", NONCE)
    assert out["party"] == holder.did
    assert out["issuer"] == issuer.did
    assert out["expires"] == NOW + 300


def test_did_web_issuer_from_the_directory(gw):
    city = Party("P-256", "did:web:city.example", "did:web:city.example#k1")
    unit = Party("Ed25519", "did:web:city.example:units:parking",
                 "did:web:city.example:units:parking#k1")
    dev = Party("Ed25519", "did:web:localhost%3A8443",
                "did:web:localhost%3A8443#k1")
    holder = Party("P-256")
    gw.publish(city.did, {
        "@context": ["https://www.w3.org/ns/did/v1"], "id": city.did,
        "verificationMethod": [{"id": city.kid, "type": "JsonWebKey2020",
                                "controller": city.did,
                                "publicKeyJwk": city.public_jwk()}],
        "assertionMethod": [city.kid]})
    gw.publish(unit.did, {
        "id": unit.did,
        "verificationMethod": [{
            "id": "#k1", "type": "Multikey", "controller": unit.did,
            "publicKeyMultibase": multikey(unit.key.public_key())}],
        "assertionMethod": ["#k1"]})
    gw.publish(dev.did, {
        "id": dev.did,
        "assertionMethod": [{"id": "#k1", "type": "JsonWebKey2020",
                             "publicKeyJwk": dev.public_jwk()}]})
    assert (gw.web / "city.example/units/parking/did.json").is_file()
    assert (gw.web / "localhost:8443" / "did.json").is_file()
    for issuer in (city, unit, dev):
        gw.trust({"id": issuer.did})
    token = vp11(holder, [vc11(city, holder.did, ["A"]),
                          vc11(unit, holder.did, ["B"]),
                          vc11(dev, holder.did, ["C"])])
    out = gw.accept(token)
    assert out["issuer"] == city.did
    assert out["credential_types"] == "A B C"

    # a key of the document that is not an assertionMethod
    city.kid = "did:web:city.example#k2"
    doc = json.loads((gw.web / "city.example" / "did.json").read_text())
    doc["verificationMethod"].append({"id": city.kid, "type": "JsonWebKey2020",
                                      "publicKeyJwk": city.public_jwk()})
    gw.publish(city.did, doc)
    gw.refuse(vp11(holder, [vc11(city, holder.did, ["A"])]), "untrusted",
              "not listed in the DID document's assertionMethod")


def test_did_web_document_with_another_id_is_a_load_error(driver, tmp_path):
    city = Party("P-256", "did:web:city.example", "did:web:city.example#k1")
    gw = Gateway(driver, tmp_path)
    gw.publish(city.did, {"id": "did:web:evil.example"})
    issuers = tmp_path / "issuers.json"
    issuers.write_text('{"issuers": []}')
    proc = subprocess.run([str(driver), str(issuers), str(gw.web),
                           "/dev/null", str(NOW)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert "city.example/did.json" in proc.stderr
    assert "is not did:web:city.example" in proc.stderr


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_url_issuer_with_a_listed_rsa_key(gw, alg):
    issuer = Party("RSA", "https://issuer.example", "rsa-2024")
    holder = Party("Ed25519")
    gw.trust({"id": issuer.did,
              "keys": [issuer.public_jwk(kid="rsa-2024")]})
    body = {"iss": issuer.did, "sub": holder.did, "exp": NOW + 600,
            "vc": {"type": ["VerifiableCredential", "X"],
                   "credentialSubject": {"id": holder.did}}}
    out = gw.accept(vp11(holder, [issuer.sign(body, alg=alg)]))
    assert out["issuer"] == "https://issuer.example"


def test_issuer_pinned_to_a_listed_did_key(gw):
    issuer, other, holder = Party("Ed25519"), Party("Ed25519"), Party("P-256")
    gw.trust({"id": issuer.did, "keys": [other.did]})
    # signed by issuer's own did:key, which the list does not name
    gw.refuse(vp11(holder, [vc11(issuer, holder.did, ["X"])]), "not_found",
              "is not a listed key")


# ---- refused ----------------------------------------------------------------

def test_refusals_of_a_jwcrypto_made_presentation(gw):
    issuer, holder, stranger = Party("Ed25519"), Party("P-256"), Party("P-256")
    gw.trust({"id": issuer.did, "credentials": MEMBERSHIP})
    good = vc11(issuer, holder.did, ["MembershipCredential"],
                {"role": "reader"})
    gw.accept(vp11(holder, [good]))

    # tampered inner credential: role changed under the old signature
    h, p, s = good.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body["vc"]["credentialSubject"]["role"] = "operator"
    p2 = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
    gw.refuse(vp11(holder, [".".join([h, p2.decode(), s])]), "signature",
              "credential 1: signature does not verify")
    # holder binding
    gw.refuse(vp11(stranger, [good]), "mismatch",
              "is not the presentation's holder")
    # issuer not trusted, not for this type, claim value not allowed
    gw.refuse(vp11(holder, [vc11(stranger, holder.did,
                                 ["MembershipCredential"])]),
              "untrusted", "is not trusted")
    gw.refuse(vp11(holder, [vc11(issuer, holder.did, ["DriverLicense"])]),
              "untrusted", "not trusted for credential type DriverLicense")
    gw.refuse(vp11(holder, [vc11(issuer, holder.did, ["MembershipCredential"],
                                 {"role": "admin"})]),
              "untrusted", 'with role "admin"')
    # expired credential, expired presentation
    gw.refuse(vp11(holder, [vc11(issuer, holder.did, ["MembershipCredential"],
                                 exp=NOW - 3600)]), "mismatch", "expired")
    gw.refuse(vp11(holder, [good], exp=NOW - 3600), "mismatch",
              "presentation: token expired")
    # a status the gateway cannot check
    with_status = vc11(issuer, holder.did, ["MembershipCredential"],
                       vc={"@context": [V1], "type": ["VerifiableCredential",
                                                      "MembershipCredential"],
                           "credentialSubject": {"id": holder.did},
                           "credentialStatus": {
                               "id": "https://city.example/status/1#94567",
                               "type": "StatusList2021Entry"}})
    gw.refuse(vp11(holder, [with_status]), "unsupported", "credentialStatus")
    gw.accept(vp11(holder, [with_status]), "--status-optional")
    # audience and nonce
    gw.refuse(vp11(holder, [good]), "mismatch", "aud is not", "--aud",
              "https://other.example")
    gw.refuse(vp11(holder, [good]), "mismatch", "nonce", "--nonce", "n-other")
    # alg allow-list
    gw.refuse(vp11(holder, [good]), "unsupported", "EdDSA not allowed",
              "--algs", "ES256")
    # a presentation inside a presentation
    gw.refuse(vp11(holder, [vp11(holder, [good])]), "limit",
              "nesting too deep")


def test_header_tricks_are_refused(gw):
    issuer, holder = Party("P-256"), Party("P-256")
    gw.trust({"id": issuer.did})
    body = {"iss": issuer.did, "sub": holder.did, "exp": NOW + 600,
            "vc": {"type": ["VerifiableCredential", "X"],
                   "credentialSubject": {"id": holder.did}}}
    attacker = Party("P-256")
    # the attacker's key in the header, under the issuer's kid
    attacker.kid = issuer.kid
    gw.refuse(attacker.sign(body, jwk=attacker.public_jwk()), "unsupported",
              "jwk")
    gw.refuse(attacker.sign(body, jku="https://evil.example/jwks"),
              "unsupported", "jku")
    gw.refuse(attacker.sign(body), "signature", "does not verify")
    # HS256 with the issuer's public key as the secret
    secret = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(
        json.dumps(issuer.public_jwk()).encode()).rstrip(b"=").decode())
    s = jws.JWS(json.dumps(body).encode())
    s.add_signature(secret, alg="HS256",
                    protected=json.dumps({"alg": "HS256",
                                          "kid": issuer.kid}))
    gw.refuse(s.serialize(compact=True), "unsupported", "HS256")
