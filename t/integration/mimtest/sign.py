"""Independent checks of signed responses (docs/signing.md).

Nothing here shares code with the gateway: the digest is hashlib, the JWS
is python3-jwcrypto, the JSON is Python's.

    keys = load_keys(jwks_json_text)            # or a PEM, or a JWK
    header = verify_signed_response(200, "GET", url, resp.headers,
                                    resp.body, keys)
    header = verify_response(resp, "GET", url, keys)   # Response object;
                                    # finds the fields in header or trailer

Every failure raises SignatureError (an AssertionError) that says what is
wrong; tests that tamper use the parts: check_content_digest(),
verify_detached_jws(), check_protected_header().
"""

import base64
import hashlib
import json
import time
from urllib.parse import urlsplit

from jwcrypto import jwk, jws

DIGEST_FIELD = "Content-Digest"
SIGNATURE_FIELD = "X-JWS-Signature"

# the protected header members, in the order the gateway writes them
HEADER_ORDER = ["alg", "kid", "x5c", "iat", "htm", "htu", "status"]
REQUIRED = {"alg", "kid", "iat", "htm", "htu", "status"}
ALGS_FOR_KEY = {"EC": {"ES256"}, "RSA": {"PS256", "RS256"},
                "OKP": {"EdDSA"}}


class SignatureError(AssertionError):
    """A signed response failed a check."""


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def content_digest(body):
    """The Content-Digest value the gateway must send for body (RFC 9530)."""
    return "sha-256=:%s:" % base64.b64encode(
        hashlib.sha256(body).digest()).decode()


def load_keys(source):
    """A JWKSet or JWK from: a JWKSet/JWK, JWKS JSON (str/bytes), a
    PEM public key (str/bytes)."""
    if isinstance(source, (jwk.JWKSet, jwk.JWK)):
        return source
    if isinstance(source, str):
        source = source.encode()
    if source.lstrip().startswith(b"-----BEGIN"):
        return jwk.JWK.from_pem(source)
    doc = json.loads(source)
    if "keys" in doc:
        return jwk.JWKSet.from_json(source)
    return jwk.JWK(**doc)


def thumbprint(key):
    """RFC 7638 SHA-256 thumbprint, base64url (jwcrypto's)."""
    return key.thumbprint()


def _field(headers, name):
    values = headers.get_all(name) if hasattr(headers, "get_all") else (
        [v for n, v in headers.items() if n.lower() == name.lower()])
    if not values:
        raise SignatureError("no %s field" % name)
    if len(values) > 1:
        raise SignatureError("%s appears %d times" % (name, len(values)))
    return values[0]


def check_content_digest(headers, body):
    """Content-Digest must be sha-256 of exactly these body bytes."""
    got = _field(headers, DIGEST_FIELD)
    want = content_digest(body)
    if got != want:
        raise SignatureError("Content-Digest mismatch: got %r, body (%d "
                             "bytes) has %r" % (got, len(body), want))


def split_detached(token):
    """'<header>..<signature>' -> (header_b64, protected dict, sig_b64)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("X-JWS-Signature is not a compact JWS: %r"
                             % token[:80])
    if parts[1] != "":
        raise SignatureError("X-JWS-Signature is not detached (payload "
                             "part is not empty)")
    try:
        pairs = json.loads(b64url_decode(parts[0]),
                           object_pairs_hook=lambda kv: kv)
    except ValueError as exc:
        raise SignatureError("protected header is not base64url JSON: %s"
                             % exc) from None
    if not isinstance(pairs, list):
        raise SignatureError("protected header is not a JSON object")
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise SignatureError("duplicate members in protected header: %s"
                             % names)
    return parts[0], dict(pairs), names, parts[2]


def _key_for(keys, kid):
    if isinstance(keys, jwk.JWKSet):
        key = keys.get_key(kid)
        if key is None:
            raise SignatureError("kid %r is not in the JWKS (has %s)"
                                 % (kid, [k.get("kid") for k in keys]))
        return key
    if keys.thumbprint() != kid:
        raise SignatureError("kid %r is not the thumbprint %r of the key"
                             % (kid, keys.thumbprint()))
    return keys


def verify_detached_jws(token, body, keys):
    """Verify the detached JWS over body with jwcrypto; returns the
    protected header as a dict.  The payload is put back in the middle
    (RFC 7515 Appendix F) and the key comes from the JWKS by kid."""
    header_b64, header, _, sig_b64 = split_detached(token)
    key = _key_for(keys, header.get("kid"))
    alg = header.get("alg")
    kty = key.get("kty")
    if alg not in ALGS_FOR_KEY.get(kty, ()):
        raise SignatureError("alg %r does not fit a %s key" % (alg, kty))
    compact = "%s.%s.%s" % (header_b64, b64url_encode(body), sig_b64)
    obj = jws.JWS()
    try:
        obj.deserialize(compact)
        obj.verify(key, alg=alg)
    except Exception as exc:   # jwcrypto raises several kinds
        raise SignatureError("JWS verification failed (%s, %d body bytes): "
                             "%s" % (alg, len(body), exc)) from None
    return header


def expected_htu(url):
    """Scheme and host lower-cased, default port dropped, target as is."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = "[%s]" % host
    port = parts.port
    if port and not ((scheme == "http" and port == 80)
                     or (scheme == "https" and port == 443)):
        host += ":%d" % port
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return "%s://%s%s" % (scheme, host, target)


def check_protected_header(header, names, status, method, url, alg=None,
                           max_skew=300, now=None):
    """alg, kid, iat, htm, htu, status; member names and their order."""
    missing = REQUIRED - set(names)
    if missing:
        raise SignatureError("protected header lacks %s: %s"
                             % (sorted(missing), header))
    unknown = [n for n in names if n not in HEADER_ORDER]
    if unknown:
        raise SignatureError("unexpected protected header members %s"
                             % unknown)
    order = [n for n in HEADER_ORDER if n in names]
    if names != order:
        raise SignatureError("protected header members in order %s, "
                             "expected %s" % (names, order))
    if alg is not None and header["alg"] != alg:
        raise SignatureError("alg is %r, expected %r" % (header["alg"], alg))
    iat = header["iat"]
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise SignatureError("iat is not an integer: %r" % (iat,))
    now = time.time() if now is None else now
    if abs(now - iat) > max_skew:
        raise SignatureError("iat %d is %ds away from now" % (iat, now - iat))
    if header["htm"] != method:
        raise SignatureError("htm is %r, request method was %r"
                             % (header["htm"], method))
    htu = header["htu"]
    if not isinstance(htu, str) or expected_htu(htu) != expected_htu(url):
        raise SignatureError("htu is %r, request URL was %r" % (htu, url))
    st = header["status"]
    if not isinstance(st, int) or isinstance(st, bool):
        raise SignatureError("status is not a number: %r" % (st,))
    if st != status:
        raise SignatureError("status in signature is %r, response status "
                             "was %r" % (st, status))
    if "x5c" in header:
        x5c = header["x5c"]
        if not isinstance(x5c, list) or not x5c or \
                not all(isinstance(c, str) for c in x5c):
            raise SignatureError("x5c is not a non-empty list of strings")


def verify_signed_response(status, method, url, headers, body, jwks_or_key,
                           alg=None, max_skew=300):
    """Check a signed response end to end; return the protected header.

    headers: where Content-Digest and X-JWS-Signature are (a Headers, a
    dict, or the trailers of a response); body: the bytes received, before
    any content decoding; jwks_or_key: JWKSet/JWK/JWKS JSON/PEM.
    """
    keys = load_keys(jwks_or_key)
    check_content_digest(headers, body)
    token = _field(headers, SIGNATURE_FIELD)
    header = verify_detached_jws(token, body, keys)
    _, _, names, _ = split_detached(token)
    check_protected_header(header, names, status, method, url, alg=alg,
                           max_skew=max_skew)
    return header


def verify_response(resp, method, url, jwks_or_key, trailers=False,
                    alg=None):
    """verify_signed_response() on a mimtest Response.

    trailers=False: the fields must be in the header and not in trailers;
    trailers=True: they must be trailer fields, announced by the Trailer
    header field, and absent from the header.
    """
    if trailers:
        where, other = resp.trailers, resp.headers
        announced = {n.strip().lower() for v in resp.headers.get_all(
            "Trailer") for n in v.split(",")}
        for name in (DIGEST_FIELD, SIGNATURE_FIELD):
            if name.lower() not in announced:
                raise SignatureError("Trailer header %r does not announce %s"
                                     % (resp.headers.get_all("Trailer"),
                                        name))
    else:
        where, other = resp.headers, resp.trailers
    for name in (DIGEST_FIELD, SIGNATURE_FIELD):
        if name in other:
            raise SignatureError("%s is in the %s, expected only in the %s"
                                 % (name, "header" if trailers else "trailers",
                                    "trailers" if trailers else "header"))
    return verify_signed_response(resp.status, method, url, where, resp.body,
                                  jwks_or_key, alg=alg)
