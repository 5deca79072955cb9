"""The DSP provider's configuration (conf/test/dsp.conf.in): the default
callback address policy refuses loopback and link-local addresses, and
`nginx -t` refuses a provider it could not run, saying why."""

import pytest

from mimtest import paths
from mimtest.dns import DnsServer
from mimtest.dsp import (
    CallbackServer, Consumer, contract_request, neg_keys, new_pid,
    offer_message, start_dsp, write_catalog)

OPEN = "urn:mim:offer:open"


@pytest.mark.parametrize("callback", [
    "http://127.0.0.1:9/callback",
    "http://127.1.2.3/",
    "http://localhost:8080/callback",
    "https://cb.localhost/",
    "http://[::1]:9/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
])
def test_default_policy_refuses_loopback_and_link_local(nginx, redis,
                                                        tmp_path, callback):
    srv = start_dsp(nginx, redis, tmp_path, callback_allow="")
    consumer = Consumer(srv)
    status, body = consumer.send("POST", "/negotiations/request",
                                 contract_request(offer_message(OPEN),
                                                  callback, new_pid()))
    assert status == 400, (status, body)
    assert body["@type"] == "ContractNegotiationError"
    assert body["code"] == "invalid-callback"
    assert "callbackAddress" in body["reason"][0], body
    assert neg_keys(redis) == []


def test_default_policy_accepts_other_addresses(nginx, redis, tmp_path):
    """A documentation address (TEST-NET-1) is not refused when the
    negotiation begins; it is simply unreachable later."""
    srv = start_dsp(nginx, redis, tmp_path, callback_allow="")
    consumer = Consumer(srv)
    status, body = consumer.send("POST", "/negotiations/request",
                                 contract_request(offer_message(OPEN),
                                                  "http://192.0.2.1:9/cb",
                                                  new_pid()))
    assert status == 201, (status, body)
    assert body["state"] == "REQUESTED"


def test_an_allow_list_refuses_what_it_does_not_list(nginx, redis, tmp_path):
    srv = start_dsp(nginx, redis, tmp_path,
                    callback_allow="mim_dsp_callback_allow 10.0.0.0/8;")
    consumer = Consumer(srv)
    status, body = consumer.send("POST", "/negotiations/request",
                                 contract_request(offer_message(OPEN),
                                                  "http://192.0.2.1:9/cb",
                                                  new_pid()))
    assert status == 400, (status, body)
    assert body["code"] == "invalid-callback"


def check(nginx_check, tmp_path, **changes):
    variables = dict(SIGNING_KEY=paths.CERTS / "sign-es256.key",
                     REDIS="mim_redis 127.0.0.1:1;",
                     CATALOG=write_catalog(tmp_path / "catalog"),
                     DSP_EXTRA="", HTTP_EXTRA="", CALLBACK_ALLOW="")
    variables.update(changes)
    return nginx_check("dsp", **variables)


def test_the_test_configuration_passes(nginx_check, tmp_path):
    rc, out = check(nginx_check, tmp_path)
    assert rc == 0, out


@pytest.mark.parametrize("changes, message", [
    (dict(REDIS="# no mim_redis", DSP_EXTRA="mim_dsp_zone 4k;"),
     "mim_dsp_zone: at least"),
    (dict(CATALOG="/nonexistent/catalog.json"),
     'mim_dsp_catalog "/nonexistent/catalog.json"'),
    (dict(DSP_EXTRA="mim_dsp_delivery attempts=0;"),
     'invalid parameter "attempts=0"'),
    (dict(CALLBACK_ALLOW="mim_dsp_callback_allow 10.0.0.0/33;"),
     '"10.0.0.0/33" is not an address or CIDR'),
    (dict(HTTP_EXTRA="server { listen 127.0.0.1:1; location /other/ "
                     "{ mim_dsp; mim_dsp_catalog %s; } }"
                     % (paths.ROOT / "conf" / "dsp" / "catalog.json")),
     "one location per configuration"),
    (dict(HTTP_EXTRA="server { listen 127.0.0.1:1; location = /x/ "
                     "{ mim_dsp; } }"),
     "must be a prefix location"),
])
def test_nginx_t_refuses(nginx_check, tmp_path, changes, message):
    rc, out = check(nginx_check, tmp_path, **changes)
    assert rc != 0, out
    assert "[emerg]" in out and message in out, out


def test_nginx_t_refuses_a_catalog_with_an_offer_that_does_not_compile(
        nginx_check, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"datasets": [{"@id": "urn:x", "endpoint": "/x", '
                   '"offers": [{"@id": "urn:o", "permission": '
                   '[{"action": "use", "constraint": [{"leftOperand": '
                   '"dateTime", "operator": "nope", "rightOperand": '
                   '"2030-01-01T00:00:00Z"}]}]}]}]}')
    rc, out = check(nginx_check, tmp_path, CATALOG=bad)
    assert rc != 0, out
    assert 'mim_dsp_catalog "%s"' % bad in out, out
    assert "operator" in out, out


# ---- callback host names: resolved with the location's resolver ---------

def resolver_line(dns):
    return "resolver 127.0.0.1:%d ipv6=off valid=1s; resolver_timeout 2s;" \
        % dns.port


def test_a_name_resolving_to_loopback_is_refused(nginx, redis, tmp_path):
    with DnsServer({"cb.test": "127.0.0.1"}) as dns:
        srv = start_dsp(nginx, redis, tmp_path, callback_allow="",
                        dsp_extra=resolver_line(dns))
        consumer = Consumer(srv)
        status, body = consumer.send(
            "POST", "/negotiations/request",
            contract_request(offer_message(OPEN), "http://cb.test:9/cb",
                             new_pid()))
        assert status == 400, (status, body)
        assert body["code"] == "invalid-callback"
        assert "127.0.0.1 is loopback" in body["reason"][0], body
        assert ("cb.test", 1) in dns.queries
    assert neg_keys(redis) == []


def test_a_name_that_does_not_resolve_is_refused(nginx, redis, tmp_path):
    with DnsServer({}) as dns:
        srv = start_dsp(nginx, redis, tmp_path, dsp_extra=resolver_line(dns))
        consumer = Consumer(srv)
        status, body = consumer.send(
            "POST", "/negotiations/request",
            contract_request(offer_message(OPEN), "http://nowhere.test/cb",
                             new_pid()))
        assert status == 400, (status, body)
        assert "cannot resolve host nowhere.test" in body["reason"][0], body
    assert neg_keys(redis) == []


def test_a_name_without_a_resolver_is_refused(nginx, redis, tmp_path):
    srv = start_dsp(nginx, redis, tmp_path)
    consumer = Consumer(srv)
    status, body = consumer.send(
        "POST", "/negotiations/request",
        contract_request(offer_message(OPEN), "http://cb.test/cb",
                         new_pid()))
    assert status == 400, (status, body)
    assert "no resolver configured" in body["reason"][0], body
    assert neg_keys(redis) == []


def test_an_allowed_name_is_negotiated_and_called_back(nginx, redis,
                                                       tmp_path):
    """Resolved when the request comes, and again for each delivery."""
    with DnsServer({"consumer.test": "127.0.0.1"}) as dns, \
            CallbackServer() as callback:
        srv = start_dsp(nginx, redis, tmp_path,
                        dsp_extra=resolver_line(dns))
        consumer = Consumer(srv)
        url = "http://consumer.test:%d/cb" % callback.port
        pid, cpid = consumer.negotiate(offer_message(OPEN), url)
        msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
        assert msg.json["@type"] == "ContractAgreementMessage"
        assert msg.header("Host") == "consumer.test:%d" % callback.port
        assert consumer.wait_state(pid, "AGREED") == "AGREED"
        assert dns.queries.count(("consumer.test", 1)) >= 1
