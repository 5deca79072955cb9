"""Bad input to the DSP 2025-1 provider (conf/test/dsp.conf.in): every
malformed or refused ContractRequestMessage is a 400 ContractNegotiation-
Error (413 past mim_dsp_max_body, 415 for a body that is not JSON) and
leaves nothing behind in Redis; bad messages on a running negotiation
change nothing."""

import copy
import json

import pytest

from mimtest.dsp import (
    CONTEXT, CallbackServer, Consumer, contract_request, neg_keys, new_pid,
    offer_message, start_dsp)

OPEN = "urn:mim:offer:open"
CALLBACK = "http://127.0.0.1:9/callback"     # never reached: all refused


@pytest.fixture
def gateway(nginx, redis, tmp_path):
    def start(dsp_extra="", http_extra=""):
        return start_dsp(nginx, redis, tmp_path, dsp_extra=dsp_extra,
                         http_extra=http_extra)
    return start


def good():
    return contract_request(offer_message(OPEN), CALLBACK, new_pid())


def changed(**members):
    """A good request with members replaced (None drops one)."""
    msg = good()
    for name, value in members.items():
        name = {"at_type": "@type", "at_context": "@context"}.get(name, name)
        if value is None:
            msg.pop(name, None)
        else:
            msg[name] = value
    return msg


def offer_changed(**members):
    return changed(offer=offer_message(OPEN, **members))


BAD_REQUESTS = [
    ("malformed JSON", b'{"@context": ["%s"], "@type": '
                       b'"ContractRequestMessage", ' % CONTEXT.encode()),
    ("not an object", b'["ContractRequestMessage"]'),
    ("empty body", b""),
    ("wrong @type", changed(at_type="ContractOfferMessage")),
    ("no @type", changed(at_type=None)),
    ("no @context", changed(at_context=None)),
    ("another @context", changed(at_context=["https://w3id.org/dspace/"
                                             "2024/1/context.json"])),
    ("missing consumerPid", changed(consumerPid=None)),
    ("consumerPid a number", changed(consumerPid=12345)),
    ("consumerPid empty", changed(consumerPid="")),
    ("both callbackAddress and providerPid", changed(providerPid=new_pid())),
    ("providerPid instead of callbackAddress",
     changed(providerPid=new_pid(), callbackAddress=None)),
    ("missing offer", changed(offer=None)),
    ("offer a string", changed(offer=OPEN)),
    ("offer without @id", offer_changed(at_id=None)),
    ("offer without target", offer_changed(target=None)),
    ("callbackAddress ftp", changed(callbackAddress="ftp://x/")),
    ("callbackAddress not a URL", changed(callbackAddress="not a url")),
    ("callbackAddress with userinfo",
     changed(callbackAddress="http://user:pw@127.0.0.1:9/cb")),
    ("callbackAddress link-local (not allowed)",
     changed(callbackAddress="http://169.254.1.1/")),
    ("callbackAddress a number", changed(callbackAddress=80)),
]


@pytest.mark.parametrize("name, body", BAD_REQUESTS,
                         ids=[n for n, _ in BAD_REQUESTS])
def test_bad_contract_request_is_400(gateway, redis, name, body):
    consumer = Consumer(gateway())
    status, answer = consumer.post("/negotiations/request", body)
    assert status == 400, (name, status, answer)
    assert isinstance(answer, dict), (name, answer)
    assert answer["@type"] == "ContractNegotiationError", (name, answer)
    assert answer.get("reason"), (name, answer)   # says what is wrong
    assert neg_keys(redis) == [], "%s left a record behind" % name


def test_the_good_request_of_these_tests_is_accepted(gateway, redis):
    """The control: the message the bad ones are made from is a 201."""
    with CallbackServer() as callback:
        consumer = Consumer(gateway())
        msg = good()
        msg["callbackAddress"] = callback.url + "/callback"
        status, body = consumer.post("/negotiations/request", msg)
        assert status == 201, (status, body)
        assert neg_keys(redis) == ["mim:neg:" + body["providerPid"]]
        callback.wait_for("/negotiations/%s/agreement" % msg["consumerPid"])


def test_body_over_max_body_is_413(gateway, redis):
    consumer = Consumer(gateway("mim_dsp_max_body 1k;"))
    big = good()
    big["offer"]["description"] = "x" * 2048       # extra members are fine
    status, body = consumer.post("/negotiations/request", big)
    assert status == 413, (status, body)
    assert isinstance(body, dict), body
    assert body["@type"] == "ContractNegotiationError", body
    assert neg_keys(redis) == []

    with CallbackServer() as callback:                 # under 1k: served
        small = good()
        small["callbackAddress"] = callback.url + "/callback"
        assert len(json.dumps(small)) < 1024
        status, body = consumer.post("/negotiations/request", small)
        assert status == 201, (status, body)


@pytest.mark.parametrize("content_type", ["text/plain",
                                          "application/x-www-form-urlencoded"])
def test_body_that_is_not_json_is_415(gateway, redis, content_type):
    consumer = Consumer(gateway())
    status, body = consumer.post("/negotiations/request", good(),
                                 content_type=content_type)
    assert status == 415, (content_type, status, body)
    assert neg_keys(redis) == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "application/ld+json"])
def test_other_spellings_of_json_are_json(gateway, content_type):
    with CallbackServer() as callback:
        consumer = Consumer(gateway())
        msg = good()
        msg["callbackAddress"] = callback.url + "/callback"
        status, body = consumer.post("/negotiations/request", msg,
                                     content_type=content_type)
        assert status == 201, (content_type, status, body)


def test_bad_messages_on_a_negotiation_change_nothing(gateway):
    with CallbackServer() as callback:
        consumer = Consumer(gateway())
        pid, cpid = consumer.negotiate(offer_message(OPEN),
                                       callback.url + "/callback")
        callback.wait_for("/negotiations/%s/agreement" % cpid)
        assert consumer.wait_state(pid, "AGREED") == "AGREED"

        verification = {"@context": [CONTEXT],
                        "@type": "ContractAgreementVerificationMessage",
                        "providerPid": pid, "consumerPid": cpid}
        termination = dict(verification,
                           **{"@type": "ContractNegotiationTerminationMessage"})
        event = dict(verification, **{"@type": "ContractNegotiationEvent"
                                               "Message",
                                      "eventType": "ACCEPTED"})
        cases = [
            ("verification: malformed JSON", "/agreement/verification",
             b'{"@type": "ContractAgreementVerificationMessage"'),
            ("verification: wrong @type", "/agreement/verification",
             dict(verification, **{"@type": "ContractNegotiationEvent"
                                             "Message"})),
            ("verification: no consumerPid", "/agreement/verification",
             {k: v for k, v in verification.items() if k != "consumerPid"}),
            ("verification: no @context", "/agreement/verification",
             {k: v for k, v in verification.items() if k != "@context"}),
            ("termination: reason not an array", "/termination",
             dict(termination, reason="because")),
            ("termination: reason empty", "/termination",
             dict(termination, reason=[])),
            ("termination: code a number", "/termination",
             dict(termination, code=7)),
            ("event: unknown eventType", "/events",
             dict(event, eventType="BOGUS")),
            ("event: no eventType", "/events",
             {k: v for k, v in event.items() if k != "eventType"}),
        ]
        failures = []
        for name, suffix, body in cases:
            status, answer = consumer.post("/negotiations/%s%s"
                                           % (pid, suffix),
                                           copy.deepcopy(body))
            if status != 400 or not isinstance(answer, dict) or \
                    answer.get("@type") != "ContractNegotiationError":
                failures.append("%s: %d %r" % (name, status, answer))
            state = consumer.state(pid)
            if state != "AGREED":
                failures.append("%s: state became %s" % (name, state))
        assert not failures, "\n".join(failures)
        assert len(callback.messages) == 1, callback.messages
