"""The data plane behind the gateway's own DSP provider, end to end
(conf/test/agreement.conf.in): negotiate an offer, request a transfer, take
the endpoint and the token from the TransferStartMessage, GET the data; a
suspension closes it at once, a resume opens it with the new token only, a
termination closes it for good.  With Redis and in embedded mode (the
records in the mim_dsp zone, the use counter in the mim_zone)."""

import re
import subprocess
import time

import pytest
import requests
from urllib.parse import urlsplit

from mimtest.dsp import (
    CallbackServer, Consumer, data_address, redis_line, write_catalog)
from test_agreement import KEY, broker_hits, refused

OPEN = "urn:mim:offer:open"
COUNTED = "urn:mim:offer:count-1000"


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


@pytest.fixture(params=["redis", "embedded"])
def gw(request, nginx, tmp_path):
    if request.param == "redis":
        server = request.getfixturevalue("redis")
        store = redis_line(server)
    else:
        store = "# embedded mode: no mim_redis"
    return nginx("agreement", SIGNING_KEY=KEY, REDIS=store,
                 CATALOG=write_catalog(tmp_path / "catalog"),
                 DATA_EXTRA="", HTTP_EXTRA="")


def fetch(gw, endpoint, token):
    """GET the data address (its path and query, on this gateway)."""
    parts = urlsplit(endpoint)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return requests.get(gw.url(target), timeout=10,
                        headers={"Authorization": "Bearer " + token})


def start_message(callback, cpid, n):
    """The n-th TransferStartMessage (1-based) of transfer cpid."""
    deadline = time.monotonic() + 5
    while len(callback.received("/transfers/%s/start" % cpid)) < n:
        assert time.monotonic() < deadline, callback.messages
        time.sleep(0.02)
    return data_address(callback.received("/transfers/%s/start" % cpid)
                        [n - 1])


def until(gw, endpoint, token, status, timeout=1.0):
    """The answer reaches status within timeout (revocation)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = fetch(gw, endpoint, token)
        if resp.status_code == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.02)


def test_negotiate_transfer_fetch(gw, callback):
    consumer = Consumer(gw)
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid = consumer.transfer(agreement_id, callback.url + "/callback")
    endpoint, token = start_message(callback, cpid, 1)
    assert consumer.wait_tp_state(pid, "STARTED") == "STARTED"

    resp = fetch(gw, endpoint, token)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Mim-Agreement"] == agreement_id
    assert resp.headers["X-Mim-Decision"] == "permit"

    # the consumer's access token is not a data token
    resp = fetch(gw, endpoint, consumer.token)
    refused(resp, 401, "invalid_token", "typ is not mim-dat")

    # suspended: closed at once
    status, body = consumer.tp_message(pid, cpid, "suspension",
                                       code="pause", reason=["maintenance"])
    assert status == 200, body
    refused(until(gw, endpoint, token, 409), 409, "transfer_not_started",
            "SUSPENDED")

    # resumed: a new token works, the old one stays dead
    status, body = consumer.tp_message(pid, cpid, "start")
    assert status == 200, body
    _, fresh = start_message(callback, cpid, 2)
    assert until(gw, endpoint, fresh, 200).status_code == 200
    refused(fetch(gw, endpoint, token), 401, "invalid_token", "revoked")

    # terminated: closed for good
    status, body = consumer.tp_message(pid, cpid, "termination",
                                       code="done", reason=["no longer"])
    assert status == 200, body
    refused(until(gw, endpoint, fresh, 409), 409, "transfer_not_started",
            "TERMINATED")
    callback.assert_all_valid()


def test_counted_offer(gw, callback):
    """count lteq 1000 under wrk -c32: exactly 1000 reach the broker, with
    the counter in Redis or in the mim_zone."""
    consumer = Consumer(gw)
    agreement_id = consumer.finalize(callback, COUNTED)
    pid, cpid = consumer.transfer(agreement_id, callback.url + "/callback")
    endpoint, token = start_message(callback, cpid, 1)
    assert consumer.wait_tp_state(pid, "STARTED") == "STARTED"
    counts = [int(fetch(gw, endpoint, token).headers["X-Mim-Count"])
              for _ in range(3)]
    assert counts == [1, 2, 3]

    parts = urlsplit(endpoint)
    out = subprocess.run(
        ["wrk", "-t2", "-c32", "-d1s", "-H", "Authorization: Bearer " + token,
         gw.url(parts.path + "?" + parts.query)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
        check=True).stdout.decode()
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 1500, out
    assert broker_hits(gw) == 1000


def test_termination_revokes_on_another_node(nginx, redis, tmp_path,
                                             callback):
    """Two gateways sharing one Redis: the consumer terminates its
    transfer through one; the other, which has the transfer cached from
    serving it, refuses the token within a second."""
    catalog = write_catalog(tmp_path / "catalog")
    nodes = [nginx("agreement", SIGNING_KEY=KEY, REDIS=redis_line(redis),
                   CATALOG=catalog, DATA_EXTRA="", HTTP_EXTRA="")
             for _ in range(2)]
    consumer = Consumer(nodes[0])
    agreement_id = consumer.finalize(callback, OPEN)
    pid, cpid = consumer.transfer(agreement_id, callback.url + "/callback")
    endpoint, token = start_message(callback, cpid, 1)
    assert consumer.wait_tp_state(pid, "STARTED") == "STARTED"

    # the other node serves the data (and caches the transfer)
    for _ in range(3):
        assert fetch(nodes[1], endpoint, token).status_code == 200

    status, body = consumer.tp_message(pid, cpid, "termination",
                                       code="done", reason=["no longer"])
    assert status == 200, body
    terminated = time.monotonic()
    resp = until(nodes[1], endpoint, token, 409, timeout=1.0)
    elapsed = time.monotonic() - terminated
    refused(resp, 409, "transfer_not_started", "TERMINATED")
    assert elapsed <= 1.0, elapsed
