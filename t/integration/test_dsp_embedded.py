"""The DSP provider without Redis (embedded mode, docs/dsp.md): the
negotiations, agreements and outbox live in the mim_dsp shm zone, shared
by the workers, kept over a reload, not over a restart."""

import time

import pytest

from mimtest.dsp import (
    CallbackServer, Consumer, admin, contract_request, new_pid,
    offer_message, start_dsp)

OPEN = "urn:mim:offer:open"


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


def embedded(nginx, tmp_path, dsp_extra=""):
    return start_dsp(nginx, None, tmp_path, dsp_extra=dsp_extra)


def agreed(consumer, callback):
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    callback.wait_for("/negotiations/%s/agreement" % cpid)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"
    return pid, cpid


def test_negotiation_to_finalized(nginx, tmp_path, callback):
    srv = embedded(nginx, tmp_path)
    consumer = Consumer(srv)
    pid, cpid = agreed(consumer, callback)
    status, body = consumer.verify(pid, cpid)
    assert status == 200, (status, body)
    event = callback.wait_for("/negotiations/%s/events" % cpid)
    assert event.json["eventType"] == "FINALIZED"
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    assert len(callback.messages) == 2, callback.messages
    callback.assert_all_valid()
    # the other worker sees the same state (one zone for all)
    for _ in range(6):
        assert consumer.state(pid) == "FINALIZED"


def test_a_second_verification_is_refused(nginx, tmp_path, callback):
    consumer = Consumer(embedded(nginx, tmp_path))
    pid, cpid = agreed(consumer, callback)
    assert consumer.verify(pid, cpid)[0] == 200
    callback.wait_for("/negotiations/%s/events" % cpid)
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    status, body = consumer.verify(pid, cpid)
    assert status == 400, (status, body)
    assert body["@type"] == "ContractNegotiationError"


def test_operator_decisions(nginx, tmp_path, callback):
    srv = embedded(nginx, tmp_path, dsp_extra="mim_dsp_auto_agree off;")
    consumer = Consumer(srv)
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    pid2, cpid2 = consumer.negotiate(offer_message(OPEN),
                                     callback.url + "/callback")
    status, body = admin(srv, "GET", "/negotiations")
    assert status == 200, (status, body)
    assert sorted(n["providerPid"] for n in body["negotiations"]) == \
        sorted([pid, pid2])

    assert admin(srv, "POST", "/negotiations/%s/agree" % pid)[0] == 200
    callback.wait_for("/negotiations/%s/agreement" % cpid)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"

    status, _ = admin(srv, "POST", "/negotiations/%s/terminate" % pid2,
                      {"code": "declined", "reason": "not now"})
    assert status == 200
    msg = callback.wait_for("/negotiations/%s/termination" % cpid2)
    assert msg.json["code"] == "declined"
    assert consumer.wait_state(pid2, "TERMINATED") == "TERMINATED"

    status, body = admin(srv, "GET", "/negotiations")
    assert body["negotiations"] == [], body
    assert admin(srv, "POST", "/negotiations/%s/agree" % pid)[0] == 409


def test_delivery_retries_and_gives_up(nginx, tmp_path, callback):
    callback.fail(r"/negotiations/", 500)
    srv = embedded(nginx, tmp_path)
    consumer = Consumer(srv)
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    assert consumer.wait_state(pid, "TERMINATED", 5.0) == "TERMINATED"
    assert [m.answered for m in callback.received("/agreement")] == \
        [500, 500, 500]
    srv.wait_for_log(r"giving up delivering the agreement")
    srv.allow_log(r"delivering the agreement of negotiation")


def test_reload_keeps_negotiations(nginx, tmp_path, callback):
    srv = embedded(nginx, tmp_path)
    consumer = Consumer(srv)
    pid, cpid = agreed(consumer, callback)
    srv.reload()
    assert consumer.state(pid) == "AGREED"
    assert consumer.verify(pid, cpid)[0] == 200
    callback.wait_for("/negotiations/%s/events" % cpid)
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"


def test_restart_forgets_them(nginx, tmp_path, callback):
    """As documented: the zone does not outlive nginx."""
    first = embedded(nginx, tmp_path)
    pid, _ = agreed(Consumer(first), callback)
    first.stop()
    second = embedded(nginx, tmp_path)
    status, body = Consumer(second).get(pid)
    assert status == 404, (status, body)


def test_bad_requests_leave_nothing(nginx, tmp_path, callback):
    srv = embedded(nginx, tmp_path, dsp_extra="mim_dsp_auto_agree off;")
    consumer = Consumer(srv)
    bad = contract_request(offer_message(OPEN, at_id="urn:mim:offer:nope"),
                           callback.url, new_pid())
    status, body = consumer.send("POST", "/negotiations/request", bad)
    assert status == 400, (status, body)
    status, body = admin(srv, "GET", "/negotiations")
    assert body == {"negotiations": []}, body
    time.sleep(0.3)
    assert callback.messages == []
