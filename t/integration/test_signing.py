"""Signed responses (docs/signing.md), checked with python3-jwcrypto
against the JWKS the gateway serves and against the public key files.

The gateway is conf/test/sign.conf.in: a stand-in broker and a gateway
with `mim_sign on` at server level in one nginx.
"""

import base64
import gzip
import hashlib
import json
import os
import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from jwcrypto import jwk

from mimtest import (SignatureError, check_content_digest, content_digest,
                     curl, load_keys, paths, request, verify_detached_jws,
                     verify_response)
from mimtest.h2client import h2_request
from mimtest.sign import (b64url_decode, b64url_encode,
                          check_protected_header, split_detached)
from mimtest.x509 import (certs_from_x5c, load_pem_certs, openssl_verify,
                          public_key_der, verify_chain)

EMPTY_DIGEST = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
SIGNATURE_FIELDS = ("Content-Digest", "X-JWS-Signature")

# alg -> key file, certificate chain, public key, extra directives
KEYS = {
    "ES256": ("sign-es256.key", "sign-es256-chain.crt",
              "sign-es256.pub.pem", ""),
    "PS256": ("sign-rsa.key", "sign-rsa-chain.crt", "sign-rsa.pub.pem", ""),
    "RS256": ("sign-rsa.key", "sign-rsa-chain.crt", "sign-rsa.pub.pem",
              "mim_signing_alg RS256;"),
    "EdDSA": ("sign-ed25519.key", "sign-ed25519-chain.crt",
              "sign-ed25519.pub.pem", ""),
}
ALGS = list(KEYS)

SMALL_JSON = json.dumps({"id": "urn:ngsi-ld:ParkingSpot:test:1",
                         "type": "ParkingSpot",
                         "note": "x" * 2000}).encode()
BIG = 1 << 20              # 1 MiB: over the 64k limit of /big/ and /chunked/
ENTITIES = paths.BROKER_DATA / "entities" / "by-type" / "ParkingSpot.json"


class Gateway:
    """The signing gateway of sign.conf.in, with test files in place."""

    def __init__(self, srv, alg):
        self.srv = srv
        self.alg = alg
        files = srv.html / "files"
        files.mkdir(exist_ok=True)
        self.files = {
            "small.json": SMALL_JSON,
            "same.json": SMALL_JSON,
            "empty.json": b"",
            "random.bin": os.urandom(50000),
            "big.bin": os.urandom(BIG),
        }
        for name, data in self.files.items():
            (files / name).write_bytes(data)
        self.pub_pem = (paths.CERTS / KEYS[alg][2]).read_bytes()

    def url(self, target):
        return self.srv.url(target)

    def get(self, target, method="GET", **kw):
        return request(method, self.url(target), **kw)

    def jwks_response(self):
        return self.get("/.well-known/jwks.json")

    def jwks(self):
        return load_keys(self.jwks_response().body)

    def verify(self, resp, method, target, trailers=False, url=None):
        """Verify against the served JWKS and against the public key file;
        returns the protected header."""
        url = url or self.url(target)
        header = verify_response(resp, method, url, self.jwks(),
                                 trailers=trailers, alg=self.alg)
        verify_response(resp, method, url, self.pub_pem, trailers=trailers,
                        alg=self.alg)
        return header

    def new_error_lines(self, since):
        return [ln for ln in self.srv.error_log()[since:].splitlines()
                if "[error]" in ln or "[crit]" in ln]


@pytest.fixture
def gateway(nginx):
    """gateway(alg="ES256", cert=False) -> a started Gateway."""
    def start(alg="ES256", cert=False):
        key, chain, _, options = KEYS[alg]
        if cert:
            options += " mim_signing_cert %s;" % (paths.CERTS / chain)
        srv = nginx("sign", SIGNING_KEY=paths.CERTS / key,
                    SIGNING_OPTIONS=options)
        return Gateway(srv, alg)
    return start


def assert_unsigned(resp):
    for name in SIGNATURE_FIELDS + ("Trailer",):
        assert name not in resp.headers, resp.headers
        assert name not in resp.trailers, resp.trailers


# ---- every key type ---------------------------------------------------------

@pytest.mark.parametrize("alg", ALGS)
def test_json_get_is_signed(gateway, alg):
    gw = gateway(alg)
    target = "/ngsi-ld/v1/entities?type=ParkingSpot"
    resp = gw.get(target)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/ld+json"
    assert resp.body == ENTITIES.read_bytes()
    header = gw.verify(resp, "GET", target)
    assert header["alg"] == alg
    assert header["htm"] == "GET"
    assert header["htu"] == gw.url(target)
    assert header["status"] == 200
    assert header["kid"] == jwk.JWK.from_pem(gw.pub_pem).thumbprint()
    assert "x5c" not in header          # no mim_signing_cert configured


@pytest.mark.parametrize("alg", ALGS)
def test_jwks_endpoint(gateway, alg):
    gw = gateway(alg)
    resp = gw.jwks_response()
    assert resp.status == 200
    ctype = resp.headers["Content-Type"].split(";")[0].strip()
    assert ctype in ("application/json", "application/jwk-set+json")
    doc = json.loads(resp.body)
    assert list(doc) == ["keys"] and len(doc["keys"]) == 1, doc
    member = doc["keys"][0]
    for private in ("d", "p", "q", "dp", "dq", "qi", "oth", "k"):
        assert private not in member, "private member %r in JWKS" % private
    key = jwk.JWK(**member)
    assert not key.has_private
    assert member["kid"] == key.thumbprint()
    # RFC 7638 by hand: required members, sorted, no white space
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
                "OKP": ("crv", "kty", "x")}[member["kty"]]
    canonical = json.dumps({m: member[m] for m in required},
                           separators=(",", ":"), sort_keys=True)
    assert member["kid"] == b64url_encode(
        hashlib.sha256(canonical.encode()).digest())
    # the same public key as the key file's
    pem_key = jwk.JWK.from_pem(gw.pub_pem)
    assert pem_key.thumbprint() == member["kid"]
    expected_kty = {"ES256": "EC", "PS256": "RSA", "RS256": "RSA",
                    "EdDSA": "OKP"}[alg]
    assert member["kty"] == expected_kty
    # and the JWKS answer itself is signed, like everything the server sends
    gw.verify(resp, "GET", "/.well-known/jwks.json")


def test_signature_verifies_with_public_key_pem_only(gateway):
    gw = gateway("ES256")
    resp = gw.get("/files/small.json")
    header = verify_response(resp, "GET", gw.url("/files/small.json"),
                             gw.pub_pem)
    assert header["alg"] == "ES256"
    other = (paths.CERTS / "sign-rsa.pub.pem").read_bytes()
    with pytest.raises(SignatureError, match="kid"):
        verify_response(resp, "GET", gw.url("/files/small.json"), other)


# ---- bodies of every kind ---------------------------------------------------

def test_empty_200(gateway):
    gw = gateway()
    resp = gw.get("/files/empty.json")
    assert resp.status == 200 and resp.body == b""
    assert content_digest(b"") == EMPTY_DIGEST
    assert resp.headers["Content-Digest"] == EMPTY_DIGEST
    assert gw.verify(resp, "GET", "/files/empty.json")["status"] == 200


def test_204_no_content(gateway):
    gw = gateway()
    resp = gw.get("/no-content")
    assert resp.status == 204 and resp.body == b""
    assert resp.headers["Content-Digest"] == EMPTY_DIGEST
    assert gw.verify(resp, "GET", "/no-content")["status"] == 204


def test_404_from_upstream(gateway):
    gw = gateway()
    resp = gw.get("/files/missing.json")
    assert resp.status == 404 and resp.body
    header = gw.verify(resp, "GET", "/files/missing.json")
    assert header["status"] == 404


def test_502_error_page_of_nginx_is_signed(gateway):
    gw = gateway()
    resp = gw.get("/closed/anything")
    assert resp.status == 502
    assert b"502 Bad Gateway" in resp.body
    assert gw.verify(resp, "GET", "/closed/anything")["status"] == 502


def test_head_is_signed_over_empty_payload(gateway):
    gw = gateway()
    resp = gw.get("/files/small.json", method="HEAD")
    assert resp.status == 200 and resp.body == b""
    assert resp.headers["Content-Digest"] == EMPTY_DIGEST
    header = gw.verify(resp, "HEAD", "/files/small.json")
    assert header["htm"] == "HEAD"
    # such a signature can never stand for the GET body
    with pytest.raises(SignatureError):
        verify_detached_jws(resp.headers["X-JWS-Signature"], SMALL_JSON,
                            gw.jwks())


def test_gzip_signature_covers_compressed_bytes(gateway):
    gw = gateway()
    resp = gw.get("/gzip/small.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.body[:2] == b"\x1f\x8b"
    gw.verify(resp, "GET", "/gzip/small.json")
    assert gzip.decompress(resp.body) == SMALL_JSON
    # the digest is not the one of the decoded body
    assert resp.headers["Content-Digest"] != content_digest(SMALL_JSON)
    # without Accept-Encoding: plain, signed too
    plain = gw.get("/gzip/small.json")
    assert "Content-Encoding" not in plain.headers
    assert plain.body == SMALL_JSON
    gw.verify(plain, "GET", "/gzip/small.json")


def test_binary_body(gateway):
    gw = gateway()
    resp = gw.get("/files/random.bin")
    assert resp.status == 200
    assert resp.body == gw.files["random.bin"]
    gw.verify(resp, "GET", "/files/random.bin")


def test_htu_has_query_scheme_and_lower_cased_host(gateway):
    gw = gateway()
    target = "/ngsi-ld/v1/entities?type=ParkingSpot&limit=2&q=a%20b"
    resp = gw.get(target)
    header = gw.verify(resp, "GET", target)
    assert header["htu"] == "http://127.0.0.1:%d%s" % (gw.srv.port, target)

    host = "LocalHost:%d" % gw.srv.port
    resp = gw.get(target, host=host)
    header = gw.verify(resp, "GET", target, url="http://localhost:%d%s"
                       % (gw.srv.port, target))
    assert header["htu"] == "http://localhost:%d%s" % (gw.srv.port, target)

    resp = request("GET", gw.srv.tls_url(target))
    header = gw.verify(resp, "GET", target, url=gw.srv.tls_url(target))
    assert header["htu"] == gw.srv.tls_url(target)


def test_range_on_a_file_the_gateway_serves_is_ignored(gateway):
    gw = gateway()
    resp = gw.get("/static/random.bin", headers={"Range": "bytes=0-9"})
    assert resp.status == 200
    assert "Content-Range" not in resp.headers
    assert resp.body == gw.files["random.bin"]
    gw.verify(resp, "GET", "/static/random.bin")


def test_range_answered_by_upstream_is_signed_as_sent(gateway):
    # docs/signing.md: a 206 that the upstream cuts is signed as sent, the
    # digest over the slice and status 206 bound, so it never passes for
    # the whole body
    gw = gateway()
    resp = gw.get("/files/random.bin", headers={"Range": "bytes=0-9"})
    header = gw.verify(resp, "GET", "/files/random.bin")
    assert resp.status == 206, resp.headers
    assert header["status"] == 206
    assert resp.body == gw.files["random.bin"][:10]


# ---- x5c ---------------------------------------------------------------

@pytest.mark.parametrize("alg", ALGS)
def test_x5c_chain_validates_to_ca_bundle(gateway, alg):
    gw = gateway(alg, cert=True)
    resp = gw.get("/files/small.json")
    header = gw.verify(resp, "GET", "/files/small.json")
    assert "x5c" in header
    chain = certs_from_x5c(header["x5c"])
    expected = load_pem_certs(paths.CERTS / KEYS[alg][1])
    assert [c.fingerprint(hashes.SHA256()) for c in chain] == \
        [c.fingerprint(hashes.SHA256()) for c in expected]
    # the leaf certifies the very key that signed
    leaf_key = public_key_der(chain[0].public_key())
    pem_key = public_key_der(serialization.load_pem_public_key(gw.pub_pem))
    assert leaf_key == pem_key
    verify_chain(chain, load_pem_certs(paths.CERTS / "ca-bundle.crt"))
    rc, out = openssl_verify(chain)
    assert rc == 0 and "OK" in out, out


# ---- bodies over mim_sign_max_body: trailers ------------------------------

@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_trailers_over_http11(gateway, alg):
    gw = gateway(alg)
    resp = gw.get("/big/big.bin")
    assert resp.status == 200
    assert resp.chunked, resp.headers
    assert "Content-Length" not in resp.headers
    assert resp.body == gw.files["big.bin"]
    announced = [n.strip().lower() for n in resp.headers["Trailer"].split(",")]
    assert sorted(announced) == ["content-digest", "x-jws-signature"]
    header = gw.verify(resp, "GET", "/big/big.bin", trailers=True)
    assert header["status"] == 200


def test_under_the_limit_no_trailers(gateway):
    gw = gateway()
    resp = gw.get("/big/random.bin")       # 50000 bytes < 64k
    assert resp.body == gw.files["random.bin"]
    assert "Trailer" not in resp.headers
    gw.verify(resp, "GET", "/big/random.bin")


def test_trailers_over_http10_give_502(gateway):
    gw = gateway()
    since = gw.srv.log_size()
    resp = gw.get("/big/big.bin", version="1.0")
    assert resp.status == 502, resp
    assert gw.files["big.bin"] not in resp.body
    assert "Trailer" not in resp.headers
    assert gw.verify(resp, "GET", "/big/big.bin")["status"] == 502
    lines = gw.new_error_lines(since)
    assert any("/big/big.bin" in ln for ln in lines), lines


def test_trailers_with_chunked_encoding_off_give_502(gateway):
    gw = gateway()
    since = gw.srv.log_size()
    resp = gw.get("/big-no-chunked/big.bin")
    assert resp.status == 502, resp
    assert gw.verify(resp, "GET", "/big-no-chunked/big.bin")["status"] == 502
    lines = gw.new_error_lines(since)
    assert any("/big-no-chunked/big.bin" in ln for ln in lines), lines


def test_trailers_over_http2(gateway):
    gw = gateway()
    url = gw.srv.tls_url("/big/big.bin")
    resp = h2_request(url)
    assert resp.status == 200
    assert resp.body == gw.files["big.bin"]
    header = gw.verify(resp, "GET", "/big/big.bin", trailers=True, url=url)
    assert header["htu"] == url


def test_trailers_over_http2_reach_curl(gateway):
    # curl/libcurl 7.88 (and so `mim verify-response`) ignores HTTP/2
    # trailers that follow a body whose Content-Length was announced.
    gw = gateway()
    url = gw.srv.tls_url("/big/big.bin")
    resp = curl(url)
    assert resp.version == "HTTP/2" and resp.status == 200
    assert resp.body == gw.files["big.bin"]
    gw.verify(resp, "GET", "/big/big.bin", trailers=True, url=url)


def test_small_body_over_http2_signed_in_header(gateway):
    gw = gateway()
    url = gw.srv.tls_url("/files/small.json")
    resp = curl(url)
    assert resp.version == "HTTP/2" and resp.body == SMALL_JSON
    gw.verify(resp, "GET", "/files/small.json", url=url)


def test_ed25519_big_body_gives_502(gateway):
    gw = gateway("EdDSA")
    since = gw.srv.log_size()
    resp = gw.get("/big/big.bin")
    assert resp.status == 502, resp
    assert gw.files["big.bin"] not in resp.body
    assert gw.verify(resp, "GET", "/big/big.bin")["status"] == 502
    lines = gw.new_error_lines(since)
    assert any("/big/big.bin" in ln for ln in lines), lines


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_unknown_length_under_the_limit(gateway, version):
    gw = gateway()
    resp = gw.get("/chunked/small.json", version=version,
                  headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.body) == SMALL_JSON
    assert "Trailer" not in resp.headers
    gw.verify(resp, "GET", "/chunked/small.json")


def test_unknown_length_over_the_limit_switches_to_trailers(gateway):
    gw = gateway()
    resp = gw.get("/chunked/big.bin")
    assert resp.status == 200 and resp.chunked
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.body) == gw.files["big.bin"]
    gw.verify(resp, "GET", "/chunked/big.bin", trailers=True)


@pytest.mark.parametrize("alg,version", [("ES256", "1.0"), ("EdDSA", "1.1")])
def test_unknown_length_over_the_limit_without_trailers_gives_502(
        gateway, alg, version):
    gw = gateway(alg)
    since = gw.srv.log_size()
    resp = gw.get("/chunked/big.bin", version=version)
    assert resp.status == 502, resp
    assert gw.verify(resp, "GET", "/chunked/big.bin")["status"] == 502
    lines = gw.new_error_lines(since)
    assert any("/chunked/big.bin" in ln for ln in lines), lines


# ---- tampering ---------------------------------------------------------

@pytest.fixture
def signed_small(gateway):
    gw = gateway()
    resp = gw.get("/files/small.json")
    gw.verify(resp, "GET", "/files/small.json")
    return gw, resp


def test_one_body_byte_changed_fails(signed_small):
    gw, resp = signed_small
    body = bytearray(resp.body)
    body[len(body) // 2] ^= 0x01
    body = bytes(body)
    with pytest.raises(SignatureError, match="Content-Digest"):
        check_content_digest(resp.headers, body)
    with pytest.raises(SignatureError, match="JWS verification failed"):
        verify_detached_jws(resp.headers["X-JWS-Signature"], body, gw.jwks())


def test_one_header_character_changed_fails(signed_small):
    gw, resp = signed_small
    token = resp.headers["X-JWS-Signature"]
    head, _, sig = token.split(".")
    # change a character in the middle of the protected header, keeping it
    # valid base64url, and also a clean re-encoding with another status
    i = len(head) // 2
    flipped = head[:i] + ("A" if head[i] != "A" else "B") + head[i + 1:]
    with pytest.raises(SignatureError):
        verify_detached_jws(flipped + ".." + sig, resp.body, gw.jwks())
    header = json.loads(b64url_decode(head))
    header["status"] = 404
    forged = b64url_encode(json.dumps(header, separators=(",", ":"))
                           .encode())
    with pytest.raises(SignatureError, match="JWS verification failed"):
        verify_detached_jws(forged + ".." + sig, resp.body, gw.jwks())


def test_one_signature_character_changed_fails(signed_small):
    gw, resp = signed_small
    head, _, sig = resp.headers["X-JWS-Signature"].split(".")
    raw = bytearray(b64url_decode(sig))
    raw[len(raw) // 2] ^= 0x80
    with pytest.raises(SignatureError, match="JWS verification failed"):
        verify_detached_jws(head + ".." + b64url_encode(bytes(raw)),
                            resp.body, gw.jwks())


def test_signature_replayed_for_another_url_fails(signed_small):
    gw, resp = signed_small
    # same.json has the very same bytes as small.json
    other = gw.get("/files/same.json")
    assert other.body == resp.body
    token = resp.headers["X-JWS-Signature"]
    # the JWS itself verifies over these bytes ...
    header = verify_detached_jws(token, other.body, gw.jwks())
    _, _, names, _ = split_detached(token)
    # ... but it answers another request
    with pytest.raises(SignatureError, match="htu"):
        check_protected_header(header, names, 200, "GET",
                               gw.url("/files/same.json"))
    with pytest.raises(SignatureError, match="htm"):
        check_protected_header(header, names, 200, "HEAD",
                               gw.url("/files/small.json"))
    with pytest.raises(SignatureError, match="status"):
        check_protected_header(header, names, 404, "GET",
                               gw.url("/files/small.json"))
    # and the genuine answer for same.json carries its own htu
    assert gw.verify(other, "GET", "/files/same.json")["htu"] == \
        gw.url("/files/same.json")


# ---- where signing is on and off --------------------------------------------

def test_mim_sign_off_in_a_location(gateway):
    gw = gateway()
    resp = gw.get("/unsigned/small.json")
    assert resp.status == 200 and resp.body == SMALL_JSON
    assert_unsigned(resp)
    big = gw.get("/unsigned/big.bin")
    assert big.body == gw.files["big.bin"]
    assert_unsigned(big)


def test_mim_sign_inherited_from_server_level(gateway):
    gw = gateway()
    # `location /` says nothing about mim_sign: the server's "on" holds
    resp = gw.get("/files/small.json")
    gw.verify(resp, "GET", "/files/small.json")
    # a server without mim_sign: off by default
    plain = request("GET", gw.srv.url("/small.json",
                                      port=int(gw.srv.vars["PLAIN_PORT"])))
    assert plain.status == 200 and plain.body == SMALL_JSON
    assert_unsigned(plain)


def test_signatures_differ_per_request_but_kid_is_stable(gateway):
    gw = gateway()
    one = gw.get("/files/small.json")
    two = gw.get("/files/random.bin")
    h1 = gw.verify(one, "GET", "/files/small.json")
    h2 = gw.verify(two, "GET", "/files/random.bin")
    assert h1["kid"] == h2["kid"]
    assert one.headers["X-JWS-Signature"] != two.headers["X-JWS-Signature"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+",
                        one.headers["X-JWS-Signature"])
    assert base64.b64decode(
        one.headers["Content-Digest"][len("sha-256=:"):-1]) == \
        hashlib.sha256(one.body).digest()
