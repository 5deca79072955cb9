"""`mim verify-response` against responses signed independently with
python3-jwcrypto, as docs/signing.md describes them: saved answers (curl -D /
-o files) and live answers from a small local HTTP(S) server.

Run with /usr/bin/python3 -m pytest; the tool is $MIM_BUILD/mim or
../../build/mim relative to this file.
"""
import base64
import datetime
import gzip
import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwcrypto import jwk, jws

HERE = Path(__file__).resolve().parent
MIM = Path(os.environ.get("MIM_BUILD", HERE / ".." / ".." / "build")) / "mim"
URL = "https://city.example:8443/ngsi-ld/v1/entities?type=ParkingSpot"
BODY = b'[{"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot"}]'


# ---- signing, independently of the C code ----

def content_digest(body):
    return "sha-256=:%s:" % base64.b64encode(
        hashlib.sha256(body).digest()).decode()


def jwk_alg(key):
    return {"EC": "ES256", "OKP": "EdDSA", "RSA": "PS256"}[key["kty"]]


def sign(key, body, htm="GET", htu=URL, status=200, iat=None, alg=None,
         kid=True, x5c=None, extra=None):
    """A detached JWS over body with the protected header of signing.md."""
    header = {"alg": alg or jwk_alg(key)}
    if kid:
        header["kid"] = key.thumbprint()
    if x5c is not None:
        header["x5c"] = x5c
    header["iat"] = int(time.time()) if iat is None else iat
    if htm is not None:
        header["htm"] = htm
    if htu is not None:
        header["htu"] = htu
    if status is not None:
        header["status"] = status
    header.update(extra or {})
    token = jws.JWS(body)
    token.add_signature(key, protected=json.dumps(header,
                                                   separators=(",", ":")))
    protected, payload, signature = token.serialize(compact=True).split(".")
    assert payload == base64.urlsafe_b64encode(body).decode().rstrip("=")
    return protected + ".." + signature


def jwks_of(*keys, alg=None):
    out = []
    for key in keys:
        pub = key.export_public(as_dict=True)
        pub.update(kid=key.thumbprint(), use="sig",
                   alg=alg or jwk_alg(pub))
        out.append(pub)
    return json.dumps({"keys": out})


@pytest.fixture(scope="module")
def ec_key():
    return jwk.JWK.generate(kty="EC", crv="P-256")


@pytest.fixture(scope="module")
def rsa_key():
    return jwk.JWK.generate(kty="RSA", size=2048)


@pytest.fixture(scope="module")
def ed_key():
    return jwk.JWK.generate(kty="OKP", crv="Ed25519")


# ---- running the tool ----

def mim(*args):
    assert MIM.exists(), "%s not built (make)" % MIM
    return subprocess.run([str(MIM)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=60)


def saved(tmp_path, status_line="HTTP/1.1 200 OK", headers=(),
          trailers=None, body=BODY, prefix="", eol="\r\n"):
    """Files as `curl -D h -o b` writes them."""
    lines = [status_line, "Content-Type: application/ld+json"]
    lines += ["%s: %s" % kv for kv in headers]
    text = prefix + eol.join(lines) + eol + eol
    if trailers is not None:
        text += "".join("%s: %s%s" % (k, v, eol) for k, v in trailers)
    (tmp_path / "h").write_bytes(text.encode("latin-1"))
    (tmp_path / "b").write_bytes(body)
    return ["--headers", tmp_path / "h", "--body", tmp_path / "b"]


def signed(key, body=BODY, **kw):
    return [("Content-Digest", content_digest(body)),
            ("X-JWS-Signature", sign(key, body, **kw))]


def write_jwks(tmp_path, *keys, alg=None):
    path = tmp_path / "jwks.json"
    path.write_text(jwks_of(*keys, alg=alg))
    return path


def fails(r, reason):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("mim: verify-response: "), r.stderr
    assert reason in r.stderr, r.stderr
    assert r.stdout == ""


def ok_line(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("OK "), r.stdout
    return lines[0]


# ---- saved answers ----

def test_valid_es256_with_jwks(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    line = ok_line(r)
    assert line == ("OK ES256 kid=%s GET %s 200, %d bytes, %s (keys: JWKS "
                    "%s)" % (ec_key.thumbprint(), URL, len(BODY),
                             content_digest(BODY), tmp_path / "jwks.json"))


def test_tampered_body_is_a_digest_mismatch(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key), body=BODY + b" ")
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "digest mismatch: body %s but Content-Digest says %s"
          % (content_digest(BODY + b" "), content_digest(BODY)))


def test_tampered_body_with_fixed_digest_fails_the_signature(tmp_path,
                                                              ec_key):
    evil = BODY.replace(b"1", b"2")
    headers = [("Content-Digest", content_digest(evil)),
               ("X-JWS-Signature", sign(ec_key, BODY))]
    files = saved(tmp_path, headers=headers, body=evil)
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "signature rejected: ")


def test_tampered_signature(tmp_path, ec_key):
    sig = sign(ec_key, BODY)
    protected, _, s = sig.partition("..")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[5] ^= 0x01
    bad = protected + ".." + base64.urlsafe_b64encode(
        bytes(raw)).decode().rstrip("=")
    headers = [("Content-Digest", content_digest(BODY)),
               ("X-JWS-Signature", bad)]
    r = mim("verify-response", *saved(tmp_path, headers=headers),
            "--url", URL, "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "signature rejected: ")


def test_unknown_kid(tmp_path, ec_key):
    other = jwk.JWK.generate(kty="EC", crv="P-256")
    r = mim("verify-response", *saved(tmp_path, headers=signed(ec_key)),
            "--url", URL, "--jwks", write_jwks(tmp_path, other))
    fails(r, "signature rejected: ")
    assert "kid" in r.stderr


def test_signed_for_another_url(tmp_path, ec_key):
    other = "https://city.example:8443/ngsi-ld/v1/entities?type=Secret"
    files = saved(tmp_path, headers=signed(ec_key, htu=other))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "request binding mismatch: htu is %s, expected %s"
          % (other, URL))


def test_htu_default_port_and_host_case_are_equal(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(
        ec_key, htu="https://city.example/a?b=1"))
    r = mim("verify-response", *files, "--url",
            "https://CITY.example:443/a?b=1",
            "--jwks", write_jwks(tmp_path, ec_key))
    ok_line(r)


def test_method_must_match_htm(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key, htm="GET"))
    r = mim("verify-response", *files, "--url", URL, "-X", "POST",
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "request binding mismatch: htm is GET, expected POST")
    r = mim("verify-response", *files, "--url", URL, "--method", "get",
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "request binding mismatch: htm is GET, expected get")


def test_status_must_match(tmp_path, ec_key):
    files = saved(tmp_path, status_line="HTTP/1.1 404 Not Found",
                  headers=signed(ec_key, status=200))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "request binding mismatch: status is 200, expected 404")


def test_missing_binding_members_fail(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    for member, reason in (("htm", "htm is absent"),
                           ("htu", "htu is absent"),
                           ("status", "status is absent")):
        files = saved(tmp_path, headers=signed(ec_key, **{member: None}))
        r = mim("verify-response", *files, "--url", URL, "--jwks", jwks)
        fails(r, "request binding mismatch: " + reason)


def test_signed_404(tmp_path, ec_key):
    body = b"<html>not found</html>"
    files = saved(tmp_path, status_line="HTTP/1.1 404 Not Found",
                  headers=signed(ec_key, body=body, status=404), body=body)
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    assert " 404, %d bytes" % len(body) in ok_line(r)


def test_head_with_empty_body(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key, body=b"", htm="HEAD"),
                  body=b"")
    r = mim("verify-response", *files, "--url", URL, "-X", "HEAD",
            "--jwks", write_jwks(tmp_path, ec_key))
    line = ok_line(r)
    assert "HEAD %s 200, 0 bytes, %s" % (URL, content_digest(b"")) in line


def test_fields_as_trailers(tmp_path, ec_key):
    files = saved(tmp_path, headers=[("Transfer-Encoding", "chunked"),
                                     ("Trailer",
                                      "Content-Digest, X-JWS-Signature")],
                  trailers=signed(ec_key))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    assert "signed in trailer" in ok_line(r)


def test_signature_both_in_header_and_trailer(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key),
                  trailers=signed(ec_key))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "X-JWS-Signature came both as a header and as a trailer")


def test_unsigned_and_undigested(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    files = saved(tmp_path, headers=[("Content-Digest",
                                      content_digest(BODY))])
    fails(mim("verify-response", *files, "--url", URL, "--jwks", jwks),
          "no X-JWS-Signature field: the response is not signed")
    files = saved(tmp_path, headers=[("X-JWS-Signature",
                                      sign(ec_key, BODY))])
    fails(mim("verify-response", *files, "--url", URL, "--jwks", jwks),
          "no Content-Digest field")


def test_second_content_digest_must_agree(tmp_path, ec_key):
    headers = signed(ec_key) + [("Content-Digest",
                                 content_digest(b"something else"))]
    r = mim("verify-response", *saved(tmp_path, headers=headers),
            "--url", URL, "--jwks", write_jwks(tmp_path, ec_key))
    fails(r, "digest mismatch")


def test_last_block_after_interim_and_lf_only(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    files = saved(tmp_path, headers=signed(ec_key),
                  prefix="HTTP/1.1 100 Continue\r\n\r\n")
    ok_line(mim("verify-response", *files, "--url", URL, "--jwks", jwks))
    files = saved(tmp_path, headers=signed(ec_key), eol="\n")
    ok_line(mim("verify-response", *files, "--url", URL, "--jwks", jwks))
    # the signature of an earlier block does not count for the last one
    early = "HTTP/1.1 302 Found\r\n%s\r\n\r\n" % "\r\n".join(
        "%s: %s" % kv for kv in signed(ec_key, status=302))
    files = saved(tmp_path, prefix=early)
    fails(mim("verify-response", *files, "--url", URL, "--jwks", jwks),
          "not signed")


def test_garbage_headers_file_is_unreadable(tmp_path, ec_key):
    (tmp_path / "h").write_bytes(b"\x00\xff garbage\r\n" * 10)
    (tmp_path / "b").write_bytes(BODY)
    r = mim("verify-response", "--headers", tmp_path / "h", "--body",
            tmp_path / "b", "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key))
    assert r.returncode == 2, r.stderr
    assert "no HTTP status line" in r.stderr


def test_max_age(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    old = int(time.time()) - 3600
    files = saved(tmp_path, headers=signed(ec_key, iat=old))
    ok_line(mim("verify-response", *files, "--url", URL, "--jwks", jwks))
    fails(mim("verify-response", *files, "--url", URL, "--jwks", jwks,
              "--max-age", "300"), "signature too old: iat %d" % old)
    files = saved(tmp_path, headers=signed(ec_key))
    ok_line(mim("verify-response", *files, "--url", URL, "--jwks", jwks,
                "--max-age", "300"))


def test_json_output(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    files = saved(tmp_path, headers=signed(ec_key))
    r = mim("verify-response", *files, "--url", URL, "--jwks", jwks,
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is True
    assert out["alg"] == "ES256"
    assert out["kid"] == ec_key.thumbprint()
    assert out["method"] == "GET" and out["url"] == URL
    assert out["status"] == 200 and out["bytes"] == len(BODY)
    assert out["content_digest"] == content_digest(BODY)
    assert out["trailer"] is False
    files = saved(tmp_path, headers=signed(ec_key), body=b"x")
    r = mim("verify-response", *files, "--url", URL, "--jwks", jwks,
            "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["stage"] == "digest"
    assert out["error"].startswith("digest mismatch")


def test_quiet(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key))
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", write_jwks(tmp_path, ec_key), "-q")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_key_pem_and_certificate(tmp_path, ec_key):
    files = saved(tmp_path, headers=signed(ec_key))
    pem = tmp_path / "pub.pem"
    pem.write_bytes(ec_key.export_to_pem())
    line = ok_line(mim("verify-response", *files, "--url", URL,
                       "--key", pem))
    assert line.endswith("(keys: key %s)" % pem)

    private = serialization.load_pem_private_key(
        ec_key.export_to_pem(private_key=True, password=None), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(private, hashes.SHA256()))
    crt = tmp_path / "gw.crt"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ok_line(mim("verify-response", *files, "--url", URL, "--key", crt))

    other = tmp_path / "other.pem"
    other.write_bytes(jwk.JWK.generate(kty="EC", crv="P-256")
                      .export_to_pem())
    fails(mim("verify-response", *files, "--url", URL, "--key", other),
          "signature rejected: ")


def test_rsa_key_accepts_ps256_and_rs256(tmp_path, rsa_key):
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(rsa_key.export_to_pem())
    for alg in ("PS256", "RS256"):
        files = saved(tmp_path, headers=signed(rsa_key, alg=alg))
        line = ok_line(mim("verify-response", *files, "--url", URL,
                           "--key", pem))
        assert line.startswith("OK %s " % alg)


def test_jwks_alg_pins_rsa(tmp_path, rsa_key):
    jwks = write_jwks(tmp_path, rsa_key, alg="PS256")
    files = saved(tmp_path, headers=signed(rsa_key, alg="RS256"))
    fails(mim("verify-response", *files, "--url", URL, "--jwks", jwks),
          "signature rejected: ")


def test_eddsa(tmp_path, ed_key):
    files = saved(tmp_path, headers=signed(ed_key))
    line = ok_line(mim("verify-response", *files, "--url", URL,
                       "--jwks", write_jwks(tmp_path, ed_key)))
    assert line.startswith("OK EdDSA kid=%s " % ed_key.thumbprint())


def test_alg_none_and_hs256_are_rejected(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    for alg in ("none", "HS256"):
        header = {"alg": alg, "kid": ec_key.thumbprint(),
                  "iat": int(time.time()), "htm": "GET", "htu": URL,
                  "status": 200}
        protected = base64.urlsafe_b64encode(
            json.dumps(header).encode()).decode().rstrip("=")
        headers = [("Content-Digest", content_digest(BODY)),
                   ("X-JWS-Signature", protected + "..AAAA")]
        r = mim("verify-response", *saved(tmp_path, headers=headers),
                "--url", URL, "--jwks", jwks)
        fails(r, "signature rejected: ")


def make_cert(subject, issuer_key, issuer_name, public_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(
                   NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(
                   NameOID.COMMON_NAME, issuer_name)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                              critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def test_ca_and_x5c(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert("Test City CA", ca_key, "Test City CA",
                   ca_key.public_key(), True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert("gateway.city.example", ca_key, "Test City CA",
                     leaf_key.public_key(), False)
    (tmp_path / "ca.crt").write_bytes(
        ca.public_bytes(serialization.Encoding.PEM))
    key = jwk.JWK.from_pem(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER))
           .decode() for c in (leaf, ca)]
    files = saved(tmp_path, headers=signed(key, x5c=x5c))
    line = ok_line(mim("verify-response", *files, "--url", URL,
                       "--ca", tmp_path / "ca.crt"))
    assert "(keys: x5c to CA %s" % (tmp_path / "ca.crt") in line
    assert "gateway.city.example" in line

    other_key = ec.generate_private_key(ec.SECP256R1())
    other = make_cert("Other CA", other_key, "Other CA",
                      other_key.public_key(), True)
    (tmp_path / "other.crt").write_bytes(
        other.public_bytes(serialization.Encoding.PEM))
    fails(mim("verify-response", *files, "--url", URL,
              "--ca", tmp_path / "other.crt"), "signature rejected: ")

    # without x5c there is nothing to lead to the CA
    files = saved(tmp_path, headers=signed(key))
    fails(mim("verify-response", *files, "--url", URL,
              "--ca", tmp_path / "ca.crt"), "signature rejected: ")


# ---- usage ----

def test_usage_errors(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    files = saved(tmp_path, headers=signed(ec_key))
    for args in ([],
                 ["--frobnicate"],
                 files,                                   # no --url
                 files + ["--url", URL],                  # no key source
                 files + ["--url", URL, "--jwks", jwks, "--key", jwks],
                 files + ["--url", URL, "--jwks", jwks, "--max-age", "x"],
                 files + ["--url", URL, "--jwks", jwks, "-X", "G T"],
                 [URL] + files + ["--jwks", jwks],
                 ["ftp://example.com/", "--jwks", jwks],
                 files + ["--url", "not a url", "--jwks", jwks]):
        r = mim("verify-response", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("mim: verify-response: "), r.stderr
        assert r.stdout == ""


def test_unreadable_inputs_exit_2(tmp_path, ec_key):
    jwks = write_jwks(tmp_path, ec_key)
    files = saved(tmp_path, headers=signed(ec_key))
    files[3] = tmp_path / "missing-body"
    r = mim("verify-response", *files, "--url", URL, "--jwks", jwks)
    assert r.returncode == 2 and "missing-body" in r.stderr, r.stderr
    files = saved(tmp_path, headers=signed(ec_key))
    (tmp_path / "bad.json").write_text("{not json")
    r = mim("verify-response", *files, "--url", URL,
            "--jwks", tmp_path / "bad.json")
    assert r.returncode == 2 and "bad.json" in r.stderr, r.stderr


def test_commands():
    r = mim("version")
    assert r.returncode == 0 and r.stdout == "mim 0.1.0\n"
    r = mim("no-such-command")
    assert r.returncode == 2 and "usage: mim" in r.stderr
    r = mim()
    assert r.returncode == 2 and "usage: mim" in r.stderr
    for args in (["--help"], ["help"]):
        r = mim(*args)
        assert r.returncode == 0 and "verify-response" in r.stdout
    for args in (["verify-response", "--help"],
                 ["help", "verify-response"]):
        r = mim(*args)
        assert r.returncode == 0 and "--jwks FILE|URL" in r.stdout


# ---- live answers from a local server that signs like the gateway ----

class Signer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    key = None
    scheme = "http"

    def log_message(self, *args):
        pass

    def htu(self):
        return "%s://%s%s" % (self.scheme, self.headers["Host"].lower(),
                              self.path)

    def answer(self, status, body, mode="header", extra=()):
        method = self.command
        # a HEAD answer sends no body: its signed payload is empty
        sent = b"" if method == "HEAD" else body
        fields = [("Content-Digest", content_digest(sent)),
                  ("X-JWS-Signature", sign(self.key, sent, htm=method,
                                           htu=self.htu(), status=status))]
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if mode == "trailer":
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "Content-Digest, X-JWS-Signature")
            self.end_headers()
            if method != "HEAD":
                for i in range(0, len(body), 7):
                    chunk = body[i:i + 7]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n" + "".join(
                    "%s: %s\r\n" % kv for kv in fields).encode() + b"\r\n")
            return
        if mode == "header":
            for k, v in fields:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/.well-known/jwks.json":
            body = jwks_of(self.key).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/trailer"):
            self.answer(200, BODY * 50, mode="trailer")
        elif self.path.startswith("/gzip"):
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                self.answer(200, gzip.compress(BODY),
                            extra=[("Content-Encoding", "gzip")])
            else:
                self.answer(200, BODY)
        elif self.path.startswith("/unsigned"):
            self.answer(200, BODY, mode="none")
        elif self.path.startswith("/missing"):
            self.answer(404, b"no such thing\n")
        elif self.path.startswith("/echo-host"):
            self.answer(200, self.headers["Host"].encode())
        else:
            self.answer(200, BODY)

    do_HEAD = do_GET

    def do_POST(self):
        self.answer(201, b'{"created":true}')


@pytest.fixture(scope="module")
def server(ec_key):
    handler = type("H", (Signer,), {"key": ec_key})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_fetch_with_jwks_url(server, ec_key):
    url = server + "/ngsi-ld/v1/entities?type=ParkingSpot"
    r = mim("verify-response", url, "--jwks",
            server + "/.well-known/jwks.json")
    line = ok_line(r)
    assert line == ("OK ES256 kid=%s GET %s 200, %d bytes, %s (keys: JWKS "
                    "%s/.well-known/jwks.json)" % (
                        ec_key.thumbprint(), url, len(BODY),
                        content_digest(BODY), server))


def test_fetch_default_jwks_is_announced(server):
    r = mim("verify-response", server + "/data")
    ok_line(r)
    assert r.stderr == ("mim: verify-response: note: no key source given, "
                        "using the JWKS at %s/.well-known/jwks.json\n"
                        % server)
    assert "the default" in r.stdout


def test_fetch_trailers(server):
    r = mim("verify-response", server + "/trailer/big")
    line = ok_line(r)
    assert "signed in trailer" in line
    assert "%d bytes" % (len(BODY) * 50) in line


def test_fetch_compressed_verifies_raw_bytes(server):
    r = mim("verify-response", server + "/gzip", "--compressed", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bytes"] == len(gzip.compress(BODY))
    assert out["content_digest"] == content_digest(gzip.compress(BODY))
    ok_line(mim("verify-response", server + "/gzip"))


def test_fetch_other_methods_and_statuses(server):
    assert " 404, " in ok_line(mim("verify-response", server + "/missing"))
    line = ok_line(mim("verify-response", server + "/data", "-X", "HEAD"))
    assert "HEAD %s/data 200, 0 bytes" % server in line
    line = ok_line(mim("verify-response", server + "/things", "-X", "POST"))
    assert "POST %s/things 201" % server in line


def test_fetch_host_header_is_bound(server):
    r = mim("verify-response", server + "/echo-host", "-H",
            "Host: gw.example", "--jwks", server + "/.well-known/jwks.json")
    assert "GET http://gw.example/echo-host 200" in ok_line(r)


def test_fetch_unsigned(server):
    fails(mim("verify-response", server + "/unsigned"), "not signed")


def test_fetch_failures_exit_2(server):
    r = mim("verify-response", "http://127.0.0.1:1/x", "--jwks",
            server + "/.well-known/jwks.json")
    assert r.returncode == 2 and "cannot fetch http://127.0.0.1:1/x" \
        in r.stderr, r.stderr
    r = mim("verify-response", server + "/data", "--jwks",
            server + "/no-jwks-here")
    assert r.returncode == 2, r.stderr
    # the server answers /no-jwks-here with a signed BODY, not a JWKS
    assert "JWKS" in r.stderr


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, ec_key):
    tmp = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert("Test TLS CA", ca_key, "Test TLS CA",
                   ca_key.public_key(), True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(
               NameOID.COMMON_NAME, "localhost")]))
           .issuer_name(ca.subject).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1))
           .not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName(
               [x509.DNSName("localhost")]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    (tmp / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "srv.crt").write_bytes(srv.public_bytes(
        serialization.Encoding.PEM))
    (tmp / "srv.key").write_bytes(srv_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "srv.crt", tmp / "srv.key")
    handler = type("H", (Signer,), {"key": ec_key, "scheme": "https"})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "https://localhost:%d" % httpd.server_address[1], tmp / "ca.crt"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_tls(tls_server):
    base, ca = tls_server
    line = ok_line(mim("verify-response", base + "/data", "--tls-ca", ca))
    assert "(keys: JWKS %s/.well-known/jwks.json, the default)" % base \
        in line
    # --http2 over TLS falls back to HTTP/1.1 with a server without h2
    ok_line(mim("verify-response", base + "/trailer", "--tls-ca", ca,
                "--http2"))
    r = mim("verify-response", base + "/data")
    assert r.returncode == 2 and "cannot" in r.stderr, r.stderr
    ok_line(mim("verify-response", base + "/data", "-k"))


# ---- HTTP/2 trailers, from a stock nginx ----

NGINX_CONF = """
daemon off;
master_process off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %(dir)s/tmp;
    proxy_temp_path %(dir)s/tmp;
    fastcgi_temp_path %(dir)s/tmp;
    uwsgi_temp_path %(dir)s/tmp;
    scgi_temp_path %(dir)s/tmp;
    server {
        listen 127.0.0.1:%(h1)d;
        root %(dir)s/html;
        # a trailer makes nginx answer HTTP/1.1 chunked, without a length;
        # the proxy below then has no length either, and only then does
        # nginx 1.22 send trailers on h2
        add_trailer X-Upstream "1";
    }
    server {
        listen 127.0.0.1:%(h2)d http2;
        root %(dir)s/html;
        location /p/ {
            proxy_pass http://127.0.0.1:%(h1)d/;
            proxy_http_version 1.1;
            add_trailer Content-Digest "%(digest)s";
            add_trailer X-JWS-Signature "%(sig)s";
        }
    }
}
"""


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    import socket
    for _ in range(100):
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_fetch_http2_trailers_from_nginx(tmp_path, ec_key):
    h1, h2 = free_port(), free_port()
    (tmp_path / "html").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "html" / "data.json").write_bytes(BODY)
    url = "http://127.0.0.1:%d/p/data.json" % h2
    (tmp_path / "nginx.conf").write_text(NGINX_CONF % {
        "dir": tmp_path, "h1": h1, "h2": h2, "digest": content_digest(BODY),
        "sig": sign(ec_key, BODY, htu=url)})
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(["/usr/sbin/nginx", "-e", "stderr", "-p",
                                 str(tmp_path), "-c",
                                 str(tmp_path / "nginx.conf")], stderr=err)
    try:
        assert wait_port(h2, proc) and wait_port(h1, proc), log.read_text()
        jwks = write_jwks(tmp_path, ec_key)
        r = mim("verify-response", url, "--http2-prior-knowledge",
                "--jwks", jwks, "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["http_version"] == "HTTP/2"
        assert out["trailer"] is True
        assert out["bytes"] == len(BODY)
        # the upstream, asked directly, does not sign
        r = mim("verify-response", "http://127.0.0.1:%d/data.json" % h1,
                "--jwks", jwks)
        fails(r, "no X-JWS-Signature field")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
