"""Certificate chain checks with python3-cryptography and openssl verify."""

import base64
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from . import paths


def certs_from_x5c(x5c):
    """x5c (standard base64 DER, leaf first) -> list of x509.Certificate."""
    return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
            for c in x5c]


def load_pem_certs(path):
    data = Path(path).read_bytes()
    blocks = data.split(b"-----END CERTIFICATE-----")
    return [x509.load_pem_x509_certificate(b + b"-----END CERTIFICATE-----\n")
            for b in blocks if b"-----BEGIN CERTIFICATE-----" in b]


def public_key_der(key):
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_issued_by(cert, issuer):
    """Raise unless issuer's key signed cert (and the names chain)."""
    if cert.issuer != issuer.subject:
        raise AssertionError("issuer %s of %s is not %s"
                             % (cert.issuer.rfc4514_string(),
                                cert.subject.rfc4514_string(),
                                issuer.subject.rfc4514_string()))
    key = issuer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   padding.PKCS1v15(), cert.signature_hash_algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    else:
        raise AssertionError("unsupported issuer key %r" % key)


def verify_chain(chain, anchors):
    """chain: certificates leaf first; anchors: trusted roots.  Each link
    must be signed by the next; the last must be signed by an anchor."""
    for cert, issuer in zip(chain, chain[1:]):
        verify_issued_by(cert, issuer)
    last = chain[-1]
    for root in anchors:
        if root.subject == last.issuer:
            verify_issued_by(last, root)
            verify_issued_by(root, root)
            return root
    raise AssertionError("no trust anchor issued %s"
                         % last.subject.rfc4514_string())


def openssl_verify(chain, cafile=None):
    """`openssl verify -CAfile cafile -untrusted rest leaf`: (rc, output)."""
    cafile = cafile or paths.CERTS / "ca-bundle.crt"
    with tempfile.TemporaryDirectory() as tmp:
        leaf = Path(tmp) / "leaf.pem"
        rest = Path(tmp) / "untrusted.pem"
        pem = [c.public_bytes(serialization.Encoding.PEM) for c in chain]
        leaf.write_bytes(pem[0])
        rest.write_bytes(b"".join(pem[1:]))
        argv = [str(paths.OPENSSL), "verify", "-CAfile", str(cafile)]
        if len(pem) > 1:
            argv += ["-untrusted", str(rest)]
        proc = subprocess.run(argv + [str(leaf)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        return proc.returncode, proc.stdout.decode(errors="replace")
