"""Credentials for the caller-identity tests, made independently of the
gateway: JWS signing with python3-cryptography (every algorithm by hand,
"none" and HMAC included, so that tests can make what a library would
refuse to), iSHARE client assertions from the dev PKI, did:key holders,
did:web issuers with their DID documents, VC/VP JWTs, trusted-issuer
lists, and a verifier for the gateway's access tokens on jwcrypto.

    p1 = party("participant1")                # key, x5c chain, EU.EORI id
    jwt = client_assertion(p1)                 # a valid RS256 assertion
    body = token_form(p1.party_id, jwt)        # the token request body
    resp = post_token(srv, body)               # POST /connect/token

    issuer = DidWebIssuer(tmp_path / "did-web", "issuer.example")
    holder = DidKeyHolder()
    vc = issuer.credential(holder.did, "MembershipCredential",
                           {"role": "operator"})
    vp = holder.presentation([vc])
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature)
from jwcrypto import jwk, jws

from . import paths
from .http import request

GATEWAY_ID = "EU.EORI.NLSMARTCITY"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ---- base64url and JWS ----------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_part(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def sign_bytes(alg, key, data):
    """The JWS signature of data: RS*, PS*, ES256, EdDSA, HS* (key = bytes)
    or none."""
    if alg == "none":
        return b""
    family, bits = alg[:2], alg[2:]
    if family == "HS":
        return hmac.new(key, data, getattr(hashlib, "sha" + bits)).digest()
    if family == "RS":
        return key.sign(data, padding.PKCS1v15(), _HASHES[bits]())
    if family == "PS":
        return key.sign(data, padding.PSS(padding.MGF1(_HASHES[bits]()),
                                          int(bits) // 8), _HASHES[bits]())
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "EdDSA":
        return key.sign(data)
    raise ValueError("unknown alg %s" % alg)


def sign_jwt(header, claims, key, alg=None):
    """Compact JWS of claims (a dict, or raw payload bytes) with header as
    given (alg taken from it unless alg is passed)."""
    alg = alg or header.get("alg")
    payload = claims if isinstance(claims, bytes) else \
        json.dumps(claims, separators=(",", ":")).encode()
    signing_input = "%s.%s" % (json_part(header), b64url(payload))
    signature = sign_bytes(alg, key, signing_input.encode())
    return "%s.%s" % (signing_input, b64url(signature))


def decode_jwt(token):
    """(header, claims) of a compact JWS, unverified."""
    head, payload, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload))


# ---- iSHARE parties and client assertions ---------------------------------

class Party:
    """A party of the dev PKI: key, certificate chain (x5c), party id."""

    def __init__(self, name, certs=None):
        certs = Path(certs or paths.CERTS)
        self.name = name
        self.key = serialization.load_pem_private_key(
            (certs / ("%s.key" % name)).read_bytes(), password=None)
        pem = (certs / ("%s-chain.crt" % name)).read_text()
        self.chain = load_pem_chain(pem)
        self.x5c = [base64.b64encode(c.public_bytes(
            serialization.Encoding.DER)).decode() for c in self.chain]
        serials = self.chain[0].subject.get_attributes_for_oid(
            x509.NameOID.SERIAL_NUMBER)
        self.party_id = serials[0].value if serials else None

    def public_pem(self):
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pem_chain(text):
    """Certificates of a PEM bundle, in order (cryptography 38 has no
    load_pem_x509_certificates)."""
    end = "-----END CERTIFICATE-----"
    blocks = [b + end for b in text.split(end) if "BEGIN CERTIFICATE" in b]
    return [x509.load_pem_x509_certificate(b.strip().encode())
            for b in blocks]


def party(name):
    return Party(name)


def client_assertion(p, client_id=None, aud=GATEWAY_ID, alg="RS256",
                     iat=None, lifetime=30, jti=None, header=None,
                     drop_header=(), claims=None, drop_claims=(), key=None,
                     x5c=None):
    """An iSHARE client assertion by party p: iss = sub = client_id (p's
    party id by default), aud, iat = now, exp = iat + lifetime, a fresh
    jti, header {alg, typ: JWT, x5c}.  header/claims add or override
    members; drop_header/drop_claims remove them; key overrides the
    signing key (bytes for HS*)."""
    now = int(time.time()) if iat is None else iat
    client_id = client_id or p.party_id
    body = {"iss": client_id, "sub": client_id, "aud": aud,
            "jti": jti or str(uuid.uuid4()), "iat": now,
            "exp": now + lifetime}
    body.update(claims or {})
    for name in drop_claims:
        body.pop(name, None)
    head = {"alg": alg, "typ": "JWT", "x5c": x5c if x5c is not None
            else p.x5c}
    head.update(header or {})
    for name in drop_header:
        head.pop(name, None)
    return sign_jwt(head, body, key if key is not None else p.key, alg)


def token_form(client_id, assertion, **overrides):
    """The form of a token request; overrides replace members (None drops
    one)."""
    form = {"grant_type": "client_credentials", "scope": "iSHARE",
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}
    form.update(overrides)
    return urlencode({k: v for k, v in form.items() if v is not None})


def post_token(srv, body, content_type="application/x-www-form-urlencoded",
               method="POST", port=None):
    """POST body to srv's /connect/token; returns the Response."""
    headers = {"Content-Type": content_type} if content_type else {}
    data = body.encode() if isinstance(body, str) else body
    return request(method, srv.url("/connect/token", port=port),
                   headers=headers, body=data)


def get_token(srv, p=None, **assertion_args):
    """An access token for party p (participant1) from srv, asserting the
    answer is a 200."""
    p = p or party("participant1")
    resp = post_token(srv, token_form(p.party_id,
                                      client_assertion(p, **assertion_args)))
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body)["access_token"]


def verify_access_token(token, public_pem, our_id=GATEWAY_ID):
    """Check one of the gateway's access tokens with jwcrypto: signature by
    the gateway's key, typ at+jwt, iss = aud = our_id; returns the claims."""
    key = jwk.JWK.from_pem(public_pem)
    sig = jws.JWS()
    sig.deserialize(token)
    sig.verify(key)
    header = sig.jose_header
    assert header.get("typ") == "at+jwt", header
    claims = json.loads(sig.payload)
    assert claims["iss"] == our_id and claims["aud"] == our_id, claims
    return claims


# ---- did:key, did:web, VCs and VPs ----------------------------------------

VC_CONTEXT = "https://www.w3.org/2018/credentials/v1"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data):
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rest = divmod(n, 58)
        out = _B58[rest] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def public_jwk(key):
    """The public JWK (dict) of an EC P-256, Ed25519 or RSA key."""
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        return {"kty": "EC", "crv": "P-256",
                "x": b64url(nums.x.to_bytes(32, "big")),
                "y": b64url(nums.y.to_bytes(32, "big"))}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA",
                "n": b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8,
                                            "big")),
                "e": b64url(nums.e.to_bytes(3, "big").lstrip(b"\0"))}
    raise ValueError("unsupported key")


class DidKeyHolder:
    """A holder identified by did:key (Ed25519 by default, or P-256)."""

    def __init__(self, curve="Ed25519"):
        if curve == "Ed25519":
            self.key = ed25519.Ed25519PrivateKey.generate()
            raw = self.key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            multicodec, self.alg = b"\xed\x01", "EdDSA"
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            raw = self.key.public_key().public_bytes(
                serialization.Encoding.X962,
                serialization.PublicFormat.CompressedPoint)
            multicodec, self.alg = b"\x80\x24", "ES256"
        fingerprint = "z" + base58btc(multicodec + raw)
        self.did = "did:key:" + fingerprint
        self.kid = "%s#%s" % (self.did, fingerprint)

    def presentation(self, credentials, aud=None, nonce=None, lifetime=300,
                     iss=None):
        """A VC Data Model 1.1 VP JWT listing credential JWTs."""
        now = int(time.time())
        claims = {"iss": iss or self.did, "nbf": now - 5,
                  "exp": now + lifetime, "jti": "urn:uuid:%s" % uuid.uuid4(),
                  "vp": {"@context": [VC_CONTEXT],
                         "type": ["VerifiablePresentation"],
                         "verifiableCredential": list(credentials)}}
        if aud is not None:
            claims["aud"] = aud
        if nonce is not None:
            claims["nonce"] = nonce
        return sign_jwt({"alg": self.alg, "typ": "JWT", "kid": self.kid},
                        claims, self.key)


class DidWebIssuer:
    """A credential issuer with did:web:HOST, a P-256 key, and its DID
    document written to DIR/HOST/did.json (the mim_did_web_dir layout)."""

    def __init__(self, directory, host):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.did = "did:web:" + host
        self.kid = self.did + "#key-1"
        doc = {"@context": ["https://www.w3.org/ns/did/v1"],
               "id": self.did,
               "verificationMethod": [{
                   "id": self.kid, "type": "JsonWebKey2020",
                   "controller": self.did,
                   "publicKeyJwk": public_jwk(self.key)}],
               "assertionMethod": [self.kid]}
        path = Path(directory) / host / "did.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2))

    def credential(self, subject_did, cred_type, subject_claims,
                   lifetime=3600):
        """A VC Data Model 1.1 VC JWT about subject_did."""
        now = int(time.time())
        subject = {"id": subject_did}
        subject.update(subject_claims)
        claims = {"iss": self.did, "sub": subject_did, "nbf": now - 5,
                  "exp": now + lifetime,
                  "jti": "urn:uuid:%s" % uuid.uuid4(),
                  "vc": {"@context": [VC_CONTEXT],
                         "type": ["VerifiableCredential", cred_type],
                         "credentialSubject": subject}}
        return sign_jwt({"alg": "ES256", "typ": "JWT", "kid": self.kid},
                        claims, self.key)


def write_trusted_issuers(path, entries):
    """entries: [(issuer DID, [credential types] or None)] -> the file."""
    issuers = []
    for did, types in entries:
        item = {"id": did}
        if types is not None:
            item["credentials"] = [{"type": t} for t in types]
        issuers.append(item)
    Path(path).write_text(json.dumps({"issuers": issuers}, indent=2))
    return Path(path)


# ---- the gateway under test -----------------------------------------------

def start_gateway(nginx, directory, redis=None, redis_options="", extra="",
                  signing_key="sign-es256.key", trusted=None,
                  template="auth"):
    """Start conf/test/auth.conf.in: the token endpoint, mim_auth
    locations, a stand-in broker.  redis: a RedisServer (with
    redis_options), a whole mim_redis directive, or None (the replay cache
    is the zone's); trusted: [(issuer DID, types)] for the
    trusted-issuers list (the did:web documents go to DIRECTORY/did-web,
    see DidWebIssuer).  Returns the NginxServer."""
    directory = Path(directory)
    did_web = directory / "did-web"
    did_web.mkdir(parents=True, exist_ok=True)
    issuers = write_trusted_issuers(directory / "trusted-issuers.json",
                                    trusted or [])
    if isinstance(redis, str):
        redis_line = redis
    elif redis is not None:
        redis_line = "mim_redis %s:%d %s;" % (redis.host, redis.port,
                                              redis_options)
    else:
        redis_line = "# no mim_redis"
    return nginx(template, SIGNING_KEY=paths.CERTS / signing_key,
                 REDIS=redis_line, ISSUERS=issuers, DID_WEB=did_web,
                 AUTH_EXTRA=extra)


def bearer(token):
    return {"Authorization": "Bearer " + token}
