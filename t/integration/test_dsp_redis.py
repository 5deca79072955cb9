"""Negotiations and Redis (conf/test/dsp.conf.in): the records mim:neg:<pid>
are the system of record, the shm cache answers for known negotiations
while Redis is down, new negotiations fail closed with 503, a restarted
nginx carries on from Redis; callback delivery retries and gives up."""

import json
import time

import pytest

from mimtest.dsp import (
    PARKING, CallbackServer, Consumer, neg_keys, offer_message, start_dsp,
    write_catalog)

OPEN = "urn:mim:offer:open"
# a log line that gives the callback's status (not a connection number *500)
ANSWERED_500 = (r"(?im)^.*(?:answered|status|returned|responded|HTTP/1\.[01]|"
                r"code)[ :=]*500\b.*$")


@pytest.fixture
def catalog(tmp_path):
    return write_catalog(tmp_path / "catalog")


@pytest.fixture
def gateway(nginx, redis, tmp_path, catalog):
    """gateway(dsp_extra="") -> a started dsp nginx; each call starts a new
    one on the same Redis and catalog."""
    def start(dsp_extra="", http_extra=""):
        return start_dsp(nginx, redis, tmp_path, dsp_extra=dsp_extra,
                         http_extra=http_extra, catalog_path=catalog)
    return start


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


def record(redis, pid):
    raw = redis.command("GET", "mim:neg:" + pid)
    assert raw is not None, "no mim:neg:%s in Redis (keys: %r)" % (
        pid, neg_keys(redis))
    return json.loads(raw)


def agreed(consumer, callback, with_message=False):
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"
    return (pid, cpid, msg) if with_message else (pid, cpid)


def test_records_in_redis(gateway, redis, callback):
    consumer = Consumer(gateway())
    pid, cpid, msg = agreed(consumer, callback, with_message=True)
    assert neg_keys(redis) == ["mim:neg:" + pid]
    rec = record(redis, pid)
    assert rec["providerPid"] == pid, rec
    assert rec["consumerPid"] == cpid, rec
    assert rec["state"] == "AGREED", rec
    assert rec["consumer"] == consumer.party_id, rec
    assert rec["dataset"] == PARKING, rec
    assert rec["offerId"] == OPEN, rec

    assert consumer.verify(pid, cpid)[0] == 200
    callback.wait_for("/negotiations/%s/events" % cpid)
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    assert record(redis, pid)["state"] == "FINALIZED"
    # the agreement is kept for the data plane once FINALIZED
    agreement = msg.json["agreement"]
    stored = redis.command("GET", "mim:agr:" + agreement["@id"])
    assert stored is not None, redis.command("KEYS", "mim:*")
    assert agreement["@id"] in json.dumps(json.loads(stored)), stored


def test_redis_down_known_negotiations_still_served(gateway, redis,
                                                     callback):
    srv = gateway()
    consumer = Consumer(srv)           # the token needs Redis (replay)
    pid, cpid = agreed(consumer, callback)
    assert consumer.state(pid) == "AGREED"          # served once: cached

    redis.stop()
    status, body = consumer.request(offer_message(OPEN),
                                    callback.url + "/callback")
    assert status == 503, (status, body)
    assert isinstance(body, dict), body                    # JSON
    assert "redis" in json.dumps(body).lower(), body
    # the negotiation the gateway knows is still answered, from shm
    status, body = consumer.get(pid)
    assert status == 200, (status, body)
    assert body["state"] == "AGREED", body

    redis.start()                                # empty: a new Redis
    deadline = time.monotonic() + 10
    while True:
        status, body = consumer.request(offer_message(OPEN),
                                        callback.url + "/callback")
        if status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 201, (status, body)
    new_pid = body["providerPid"]
    callback.wait_for("/negotiations/%s/agreement" % body["consumerPid"])
    assert consumer.wait_state(new_pid, "AGREED") == "AGREED"
    assert "mim:neg:" + new_pid in neg_keys(redis)


def test_nginx_restart_between_agreed_and_verified(gateway, redis,
                                                   callback):
    first = gateway()
    consumer = Consumer(first)
    pid, cpid = agreed(consumer, callback)
    first.stop()

    second = gateway()                      # a new shm: state from Redis
    consumer = Consumer(second)
    assert consumer.state(pid) == "AGREED"
    status, body = consumer.verify(pid, cpid)
    assert status == 200, (status, body)
    event = callback.wait_for("/negotiations/%s/events" % cpid)
    assert event.json["eventType"] == "FINALIZED"
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    assert record(redis, pid)["state"] == "FINALIZED"


def test_nginx_reload_between_agreed_and_verified(gateway, callback):
    srv = gateway()
    consumer = Consumer(srv)
    pid, cpid = agreed(consumer, callback)
    srv.reload()
    assert consumer.verify(pid, cpid)[0] == 200
    callback.wait_for("/negotiations/%s/events" % cpid)
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"


def test_agreement_delivered_on_retry(gateway, redis, callback):
    callback.fail(r"/agreement$", 503, times=1)
    consumer = Consumer(gateway())
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    ok = callback.wait_for("/negotiations/%s/agreement" % cpid,
                           answered=200)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"
    tries = callback.received("/agreement")
    assert [m.answered for m in tries] == [503, 200], tries
    # the same agreement both times
    assert tries[0].json == ok.json
    # nothing more comes: exactly one successful delivery
    time.sleep(0.6)
    assert [m.answered for m in callback.received("/agreement")] == \
        [503, 200]
    assert record(redis, pid)["state"] == "AGREED"


def test_callback_that_always_fails_terminates(gateway, redis, callback):
    callback.fail(r"/negotiations/", 500)
    srv = gateway()
    consumer = Consumer(srv)
    since = srv.log_size()
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    # attempts=3, backoff 100ms..400ms: TERMINATED well within 5 s
    assert consumer.wait_state(pid, "TERMINATED", 5.0) == "TERMINATED"
    tries = callback.received("/negotiations/%s/agreement" % cpid)
    assert len(tries) == 3, tries
    rec = record(redis, pid)
    assert rec["state"] == "TERMINATED", rec
    assert rec.get("code") == "delivery-failed", rec      # docs/dsp.md
    # the error log says why: the callback answered 500
    said = srv.wait_for_log(ANSWERED_500, start=since)
    assert said, srv.error_log()[since:]
    line = said.group(0)
    assert any(w in line.lower() for w in ("callback", "deliver", "agreement",
                                           cpid, pid)), line
