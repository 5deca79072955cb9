"""The transfer process of the DSP 2025-1 provider (HTTP pull), against
conf/test/dsp.conf.in with Redis: TransferRequestMessage on a FINALIZED
agreement, the TransferStartMessage callback and its DataAddress (the
data-access token checked with python3-jwcrypto against the gateway's
public key), suspension, resume, completion, termination by the consumer
and by the operator, and every refusal with its TransferError."""

import json
import time

import pytest
from jwcrypto import jwk, jwt

from mimtest import paths
from mimtest.dsp import (
    GATEWAY_ID, PARKING, URN_UUID, CallbackServer, Consumer, admin,
    data_address, new_pid, offer_message, start_dsp)

OPEN = "urn:mim:offer:open"


@pytest.fixture
def gateway(nginx, redis, tmp_path):
    def start(dsp_extra="", http_extra=""):
        return start_dsp(nginx, redis, tmp_path, dsp_extra=dsp_extra,
                         http_extra=http_extra)
    return start


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


def gateway_key():
    with open(paths.CERTS / "sign-es256.pub.pem", "rb") as f:
        return jwk.JWK.from_pem(f.read())


def check_token(token, consumer, agreement_id, pid):
    """The data-access token: signed by the gateway's key (ES256), typ
    mim-dat+jwt, with the claims of the transfer; returns the claims."""
    parsed = jwt.JWT(jwt=token, key=gateway_key(), algs=["ES256"],
                     check_claims={"exp": None})
    header = json.loads(parsed.header)
    assert header["typ"] == "mim-dat+jwt", header
    claims = json.loads(parsed.claims)
    assert claims["iss"] == GATEWAY_ID and claims["aud"] == GATEWAY_ID
    assert claims["sub"] == consumer.party_id, claims
    assert claims["agreement"] == agreement_id, claims
    assert claims["transfer"] == pid, claims
    assert claims["target"] == PARKING, claims
    assert 3500 <= claims["exp"] - claims["iat"] <= 3600, claims
    assert URN_UUID.match(claims["jti"]), claims
    return claims


def record(redis, pid):
    value = redis.command("GET", "mim:tp:" + pid)
    assert value, "no mim:tp:%s in Redis" % pid
    return json.loads(value)


def started(consumer, callback, agreement_id):
    """A transfer up to STARTED: (pid, cpid, endpoint, token claims)."""
    pid, cpid = consumer.transfer(agreement_id, callback.url + "/callback")
    msg = callback.wait_for("/transfers/%s/start" % cpid)
    assert msg.json["providerPid"] == pid, msg.json
    assert msg.json["consumerPid"] == cpid, msg.json
    endpoint, token = data_address(msg)
    claims = check_token(token, consumer, agreement_id, pid)
    assert consumer.wait_tp_state(pid, "STARTED") == "STARTED"
    return pid, cpid, endpoint, claims


def test_transfer_to_started_with_a_data_address(gateway, callback, redis):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    gen_before = int(redis.command("GET", "mim:tp:gen") or 0)

    pid, cpid, endpoint, claims = started(consumer, callback, agreement_id)

    assert endpoint == srv.url("/ngsi-ld/v1/entities?type=ParkingSpot")
    stored = record(redis, pid)
    assert stored["state"] == "STARTED", stored
    assert stored["tokenId"] == claims["jti"], stored
    assert stored["agreementId"] == agreement_id, stored
    assert stored["consumer"] == consumer.party_id, stored
    assert int(redis.command("GET", "mim:tp:gen")) >= gen_before + 2
    callback.assert_all_valid()


def test_the_same_request_again_is_the_same_transfer(gateway, callback):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    cpid = new_pid()
    pid, _ = consumer.transfer(agreement_id, callback.url + "/cb", cpid)
    again, _ = consumer.transfer(agreement_id, callback.url + "/cb", cpid)
    assert again == pid

    # another consumer's same consumerPid is another transfer
    other = Consumer(srv, "participant2")
    other_agreement = other.finalize(callback, OPEN)
    theirs, _ = other.transfer(other_agreement, callback.url + "/cb", cpid)
    assert theirs != pid

    # the same consumerPid for another agreement is refused
    second = consumer.finalize(callback, OPEN)
    status, body = consumer.transfer_request(second, callback.url + "/cb",
                                             cpid)
    assert status == 400 and body["@type"] == "TransferError", body


@pytest.mark.parametrize("case", ["unknown", "not-ours", "push", "missing"])
def test_refused_requests(gateway, callback, case):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    url = callback.url + "/cb"

    if case == "unknown":
        status, body = consumer.transfer_request("urn:uuid:" + "0" * 8
                                                 + "-0000-4000-8000-"
                                                 + "0" * 12, url)
        code = "unknown-agreement"
    elif case == "not-ours":
        other = Consumer(srv, "participant2")
        status, body = other.transfer_request(agreement_id, url)
        code = "unknown-agreement"
    elif case == "push":
        status, body = consumer.transfer_request(agreement_id, url,
                                                 fmt="HttpData-PUSH")
        code = "unsupported-format"
    else:
        status, body = consumer.transfer_request(agreement_id, url,
                                                 agreementId=None)
        code = "invalid-message"
        assert "agreementId" in body["reason"][0], body

    assert status == 400, (status, body)
    assert body["@type"] == "TransferError", body
    assert body["code"] == code, body
    assert not callback.received("/start")


def test_an_unfinalized_negotiation_has_no_agreement_to_transfer(
        gateway, callback):
    srv = gateway()
    consumer = Consumer(srv)
    pid, cpid = consumer.negotiate(offer_message(OPEN), callback.url + "/cb")
    msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
    agreement_id = msg.json["agreement"]["@id"]      # AGREED, not FINALIZED
    status, body = consumer.transfer_request(agreement_id,
                                             callback.url + "/cb")
    assert status == 400 and body["code"] == "unknown-agreement", body


def test_suspend_resume_complete(gateway, callback, redis):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid, _, first = started(consumer, callback, agreement_id)

    status, body = consumer.tp_message(pid, cpid, "suspension",
                                       code="pause", reason=["maintenance"])
    assert status == 200 and body["state"] == "SUSPENDED", body
    assert "tokenId" not in record(redis, pid)

    # completion is not valid from SUSPENDED
    status, body = consumer.tp_message(pid, cpid, "completion")
    assert status == 400 and body["code"] == "invalid-transition", body

    # resume: a new start message with a new token
    status, body = consumer.tp_message(pid, cpid, "start")
    assert status == 200 and body["state"] == "STARTED", body
    deadline = time.monotonic() + 5
    while len(callback.received("/transfers/%s/start" % cpid)) < 2:
        assert time.monotonic() < deadline, callback.messages
        time.sleep(0.05)
    second = callback.received("/transfers/%s/start" % cpid)[1]
    _, token = data_address(second)
    claims = check_token(token, consumer, agreement_id, pid)
    assert claims["jti"] != first["jti"]
    assert record(redis, pid)["tokenId"] == claims["jti"]

    status, body = consumer.tp_message(pid, cpid, "completion")
    assert status == 200 and body["state"] == "COMPLETED", body
    assert "tokenId" not in record(redis, pid)

    for what in ("start", "suspension", "termination"):
        status, body = consumer.tp_message(pid, cpid, what)
        assert status == 400, (what, status, body)
        assert body["code"] == "invalid-transition", body
    callback.assert_all_valid()


def test_consumer_termination(gateway, callback, redis):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid, _, _ = started(consumer, callback, agreement_id)
    status, body = consumer.tp_message(pid, cpid, "termination",
                                       code="done", reason=["no longer"])
    assert status == 200 and body["state"] == "TERMINATED", body
    stored = record(redis, pid)
    assert stored["code"] == "done" and "tokenId" not in stored, stored


def test_wrong_consumer_pid_and_ownership(gateway, callback):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid, _, _ = started(consumer, callback, agreement_id)

    status, body = consumer.tp_message(pid, new_pid(), "suspension")
    assert status == 400 and body["@type"] == "TransferError", body

    other = Consumer(srv, "participant2")
    status, body = other.tp_get(pid)
    assert status == 404, (status, body)
    status, body = other.tp_message(pid, cpid, "termination")
    assert status == 404, (status, body)
    assert consumer.tp_state(pid) == "STARTED"

    status, body = consumer.tp_get("urn:uuid:nothing")
    assert status == 404 and body["@type"] == "TransferError", body

    # the path and the message must name the same transfer
    status, body = consumer.post(
        "/transfers/%s/suspension" % pid,
        {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
         "@type": "TransferSuspensionMessage",
         "providerPid": "urn:uuid:other", "consumerPid": cpid})
    assert status == 400, (status, body)


def test_operator_suspends_resumes_and_terminates(gateway, callback, redis):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid, _, _ = started(consumer, callback, agreement_id)

    status, body = admin(srv, "POST", "/transfers/%s/suspend" % pid,
                         {"code": "audit", "reason": "under review"})
    assert status == 200 and body["state"] == "SUSPENDED", body
    msg = callback.wait_for("/transfers/%s/suspension" % cpid)
    assert msg.json["code"] == "audit", msg.json
    assert "tokenId" not in record(redis, pid)

    status, body = admin(srv, "POST", "/transfers/%s/complete" % pid)
    assert status == 409, (status, body)

    status, body = admin(srv, "POST", "/transfers/%s/resume" % pid)
    assert status == 200 and body["state"] == "STARTED", body
    deadline = time.monotonic() + 5
    while len(callback.received("/transfers/%s/start" % cpid)) < 2:
        assert time.monotonic() < deadline, callback.messages
        time.sleep(0.05)

    status, body = admin(srv, "POST", "/transfers/%s/terminate" % pid)
    assert status == 200 and body["state"] == "TERMINATED", body
    callback.wait_for("/transfers/%s/termination" % cpid)
    assert consumer.tp_state(pid) == "TERMINATED"

    status, body = admin(srv, "GET", "/transfers/" + pid)
    assert status == 200 and body["state"] == "TERMINATED", body
    callback.assert_all_valid()


def test_start_never_delivered_terminates(gateway, callback, redis):
    srv = gateway()
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    callback.fail("/transfers/", status=503)
    pid, cpid = consumer.transfer(agreement_id, callback.url + "/cb")
    assert consumer.wait_tp_state(pid, "TERMINATED", timeout=8) \
        == "TERMINATED"
    stored = record(redis, pid)
    assert stored["code"] == "delivery-failed", stored
    assert "tokenId" not in stored, stored
    srv.allow_log(r"delivering the transfer-start of transfer")
    srv.allow_log(r"giving up delivering the transfer-start")


def test_transfer_in_embedded_mode(nginx, tmp_path, callback):
    srv = start_dsp(nginx, None, tmp_path)
    consumer = Consumer(srv)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid, endpoint, _ = started(consumer, callback, agreement_id)
    status, body = consumer.tp_message(pid, cpid, "suspension")
    assert status == 200 and body["state"] == "SUSPENDED", body
    assert consumer.tp_state(pid) == "SUSPENDED"
