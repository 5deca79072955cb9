"""`nginx -t` refuses bad signing configurations, naming the file and the
reason, and accepts every supported key (conf/test/sign-minimal.conf.in)."""

import os
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from mimtest import paths


def write_key(path, key):
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


def check_signing(nginx_check, key=None, cert=None, alg=None, sign="on"):
    http = ""
    if key is not None:
        http += "mim_signing_key %s;\n" % key
    if cert is not None:
        http += "    mim_signing_cert %s;\n" % cert
    if alg is not None:
        http += "    mim_signing_alg %s;\n" % alg
    return nginx_check("sign-minimal", HTTP_SIGNING=http,
                       SIGNING="mim_sign %s;" % sign)


def assert_refused(rc, out, directive, path):
    assert rc != 0, "nginx -t accepted it:\n" + out
    pattern = r'\[emerg\].*%s "%s": \S' % (directive, re.escape(str(path)))
    assert re.search(pattern, out), \
        "no line naming %s \"%s\" and a reason in:\n%s" % (directive, path,
                                                           out)


def test_missing_key_file(nginx_check, tmp_path):
    path = tmp_path / "no-such-key.pem"
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


def test_garbage_key_file(nginx_check, tmp_path):
    path = tmp_path / "garbage.pem"
    path.write_bytes(os.urandom(600))
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


def test_certificate_given_as_key(nginx_check):
    path = paths.CERTS / "sign-es256.crt"
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


def test_rsa_1024_key(nginx_check, tmp_path):
    path = write_key(tmp_path / "rsa1024.key",
                     rsa.generate_private_key(65537, 1024))
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


def test_p384_key(nginx_check, tmp_path):
    path = write_key(tmp_path / "p384.key",
                     ec.generate_private_key(ec.SECP384R1()))
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


def test_dsa_key(nginx_check, tmp_path):
    path = write_key(tmp_path / "dsa.key", dsa.generate_private_key(2048))
    rc, out = check_signing(nginx_check, key=path)
    assert_refused(rc, out, "mim_signing_key", path)


@pytest.mark.parametrize("key,cert", [
    ("sign-es256.key", "sign-rsa-chain.crt"),     # another key type
    ("sign-es256.key", "tls-chain.crt"),          # P-256 too, another key
    ("sign-rsa.key", "participant1-chain.crt"),   # RSA too, another key
    ("sign-ed25519.key", "sign-es256-chain.crt"),
])
def test_certificate_not_matching_the_key(nginx_check, key, cert):
    path = paths.CERTS / cert
    rc, out = check_signing(nginx_check, key=paths.CERTS / key, cert=path)
    assert_refused(rc, out, "mim_signing_cert", path)


def test_missing_certificate_file(nginx_check, tmp_path):
    path = tmp_path / "no-such-chain.crt"
    rc, out = check_signing(nginx_check, key=paths.CERTS / "sign-es256.key",
                            cert=path)
    assert_refused(rc, out, "mim_signing_cert", path)


def test_mim_sign_on_without_a_key(nginx_check):
    rc, out = check_signing(nginx_check, key=None)
    assert rc != 0, "nginx -t accepted mim_sign on without a key:\n" + out
    assert "[emerg]" in out and "mim_sign" in out and "key" in out, out


def test_mim_sign_off_needs_no_key(nginx_check):
    rc, out = check_signing(nginx_check, key=None, sign="off")
    assert rc == 0, out


@pytest.mark.parametrize("key,alg", [
    ("sign-es256.key", "RS256"),        # mim_signing_alg is for RSA keys
    ("sign-ed25519.key", "PS256"),
    ("sign-rsa.key", "HS256"),          # never an HMAC
    ("sign-rsa.key", "none"),
])
def test_signing_alg_that_does_not_fit(nginx_check, key, alg):
    path = paths.CERTS / key
    rc, out = check_signing(nginx_check, key=path, alg=alg)
    assert rc != 0, "nginx -t accepted mim_signing_alg %s with %s:\n%s" % (
        alg, key, out)
    # the message names the directive (or the key file) and the alg
    emerg = [ln for ln in out.splitlines() if "[emerg]" in ln]
    assert any(alg in ln and ("mim_signing_alg" in ln
                              or 'mim_signing_key "%s": ' % path in ln)
               for ln in emerg), out


@pytest.mark.parametrize("key,cert,alg", [
    ("sign-es256.key", None, None),
    ("sign-es256.key", "sign-es256-chain.crt", None),
    ("sign-rsa.key", None, None),
    ("sign-rsa.key", "sign-rsa-chain.crt", "PS256"),
    ("sign-rsa.key", "sign-rsa-chain.crt", "RS256"),
    ("sign-ed25519.key", None, None),
    ("sign-ed25519.key", "sign-ed25519-chain.crt", None),
])
def test_good_keys_pass(nginx_check, key, cert, alg):
    rc, out = check_signing(nginx_check, key=paths.CERTS / key,
                            cert=cert and paths.CERTS / cert, alg=alg)
    assert rc == 0, out
    assert "test is successful" in out, out


def test_fresh_rsa_3072_and_p256_keys_pass(nginx_check, tmp_path):
    for name, key in (("rsa3072.key", rsa.generate_private_key(65537, 3072)),
                      ("p256.key", ec.generate_private_key(ec.SECP256R1()))):
        path = write_key(tmp_path / name, key)
        rc, out = check_signing(nginx_check, key=path)
        assert rc == 0, out
