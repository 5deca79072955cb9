"""nginx -t refuses caller-identity configurations that cannot work, and
names the directive and the reason (docs/directives.md, "Caller
identity")."""

import pytest

from mimtest import paths

CERTS = paths.CERTS
KEY = "mim_signing_key %s/sign-es256.key;" % CERTS
OURS = KEY + " mim_participant_id EU.EORI.NLSMARTCITY;"
ENDPOINT = OURS + " mim_trust_anchors %s/ca-bundle.crt;" % CERTS


def check(nginx_check, http="", location=""):
    return nginx_check("auth-minimal", HTTP_AUTH=http, LOCATION_AUTH=location)


@pytest.mark.parametrize("http, location, words", [
    ("", "mim_auth ishare;",
     "mim_auth ishare requires mim_participant_id and mim_signing_key"),
    ("mim_participant_id EU.EORI.NLSMARTCITY;", "mim_auth on;",
     "mim_auth on requires"),
    (OURS, "mim_auth vc;", "mim_auth vc requires mim_trusted_issuers"),
    (OURS, "mim_auth maybe;", "invalid value \"maybe\""),
    (OURS + " mim_zone z 1m;", "mim_token_endpoint;",
     "mim_token_endpoint requires mim_participant_id, mim_trust_anchors"),
    (ENDPOINT, "mim_token_endpoint;",
     "mim_token_endpoint requires mim_redis or mim_zone"),
    (ENDPOINT + " mim_zone z 1m;", "mim_token_endpoint; mim_auth on;",
     "mim_auth cannot guard mim_token_endpoint"),
    (ENDPOINT + " mim_zone z 1m;", "mim_token_endpoint; mim_token_endpoint;",
     "is duplicate"),
    ("mim_zone z 4k;", "", "mim_zone \"z\": size \"4k\" is invalid"),
    ("mim_zone z 1m; mim_zone y 1m;", "", "is duplicate"),
    (OURS + " mim_token_algs RS256 HS256;", "mim_auth on;",
     "mim_token_algs: unknown or refused algorithm \"HS256\""),
    (OURS + " mim_vc_algs none;", "mim_auth on;",
     "mim_vc_algs: unknown or refused algorithm \"none\""),
    (OURS + " mim_trust_anchors /nonexistent/ca.crt;", "mim_auth on;",
     "mim_trust_anchors \"/nonexistent/ca.crt\""),
    (OURS + " mim_trust_crl %s/ca.crt;" % CERTS, "mim_auth on;",
     "mim_trust_crl \"%s/ca.crt\" is set without mim_trust_anchors" % CERTS),
    (ENDPOINT + " mim_trust_crl %s/ca.crt;" % CERTS, "mim_auth on;",
     "mim_trust_crl \"%s/ca.crt\": no CRL could be loaded" % CERTS),
    (OURS + " mim_trusted_issuers %s/ca.crt;" % CERTS, "mim_auth on;",
     "mim_trusted_issuers \"%s/ca.crt\"" % CERTS),
    (OURS + " mim_did_web_dir /nonexistent;", "mim_auth on;",
     "mim_did_web_dir \"/nonexistent\""),
    (OURS + " mim_token_ttl 0;", "mim_auth on;",
     "mim_token_ttl must be at least 1s"),
    (OURS + " mim_party_id_from email;", "mim_auth on;",
     "invalid value \"email\""),
])
def test_refused(nginx_check, http, location, words):
    rc, out = check(nginx_check, http, location)
    assert rc != 0, out
    assert "[emerg]" in out and words in out, out


@pytest.mark.parametrize("http, location", [
    (OURS, "mim_auth ishare;"),
    (ENDPOINT + " mim_zone z 1m;", "mim_token_endpoint;"),
    (ENDPOINT + " mim_zone z 1m; mim_auth on;", "mim_token_endpoint; "
     "mim_auth off;"),
    (ENDPOINT + " mim_redis 127.0.0.1:6379;", "mim_token_endpoint;"),
    ("", "mim_auth off;"),
])
def test_accepted(nginx_check, http, location):
    rc, out = check(nginx_check, http, location)
    assert rc == 0, out
