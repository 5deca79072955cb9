"""Contract negotiation with the DSP 2025-1 provider (conf/test/dsp.conf.in):
request, agreement callback, verification, FINALIZED; callbacks over
plain HTTP and TLS; terminations; wrong-state messages; who may see a
negotiation; the offer judged at negotiation time; the operator's
decisions with mim_dsp_auto_agree off.  The test is the consumer
(mimtest.dsp.Consumer) and its callback endpoint (CallbackServer)."""

import datetime
import json

import pytest

from mimtest.dsp import (
    AIR, GATEWAY_ID, OFFERS, PARKING, URN_UUID, CallbackServer, Consumer,
    admin, make_tls_cert, neg_keys, new_pid, offer_message, parse_time,
    start_dsp)

OPEN = "urn:mim:offer:open"
P2_ONLY = "urn:mim:offer:p2-only"
EXPIRED = "urn:mim:offer:expired"
COUNTED = "urn:mim:offer:count-1000"
RESEARCH = "urn:mim:offer:research"
MANUAL = "mim_dsp_auto_agree off;"


@pytest.fixture
def gateway(nginx, redis, tmp_path):
    """gateway(dsp_extra="", http_extra="") -> a started dsp nginx."""
    def start(dsp_extra="", http_extra=""):
        return start_dsp(nginx, redis, tmp_path, dsp_extra=dsp_extra,
                         http_extra=http_extra)
    return start


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


def check_agreement(msg, pid, cpid, offer_id, assignee):
    """The ContractAgreementMessage msg (valid already) for offer_id."""
    body = msg.json
    assert body["@type"] == "ContractAgreementMessage", body
    assert body["providerPid"] == pid and body["consumerPid"] == cpid, body
    agreement = body["agreement"]
    dataset, offer = OFFERS[offer_id]
    assert URN_UUID.match(agreement["@id"]), agreement
    assert agreement["@type"] == "Agreement", agreement
    assert agreement["target"] == dataset, agreement
    assert agreement["assigner"] == GATEWAY_ID, agreement
    assert agreement["assignee"] == assignee, agreement
    when = parse_time(agreement["timestamp"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 300, agreement
    for kind in ("permission", "prohibition", "obligation"):
        assert agreement.get(kind) == offer.get(kind), (kind, agreement)
    media = (msg.header("Content-Type") or "").split(";")[0].strip()
    assert media == "application/json", msg.headers
    return agreement


def agreed(consumer, callback, offer_id=OPEN, path="/callback"):
    """Negotiate offer_id up to AGREED: (pid, cpid, agreement message)."""
    pid, cpid = consumer.negotiate(offer_message(offer_id),
                                   callback.url + path)
    msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
    check_agreement(msg, pid, cpid, offer_id, consumer.party_id)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"
    return pid, cpid, msg


def requested(consumer, callback, offer_id=OPEN):
    """A negotiation left in REQUESTED (auto-agree off): (pid, cpid)."""
    pid, cpid = consumer.negotiate(offer_message(offer_id),
                                   callback.url + "/callback")
    assert consumer.state(pid) == "REQUESTED"
    return pid, cpid


def assert_negotiation_error(status, body, expected=400, pid=None):
    assert status == expected, (expected, status, body)
    assert isinstance(body, dict), body
    assert body["@type"] == "ContractNegotiationError", body
    if pid is not None:
        assert body["providerPid"] == pid, body
    return body


# ---- the whole negotiation ------------------------------------------------------

@pytest.mark.parametrize("path", ["/callback", "/callback/", ""])
def test_negotiation_to_finalized(gateway, callback, path):
    srv = gateway()
    consumer = Consumer(srv)
    pid, cpid, msg = agreed(consumer, callback, OPEN, path)
    prefix = path.rstrip("/")
    assert msg.path == "%s/negotiations/%s/agreement" % (prefix, cpid), msg
    assert "//" not in msg.raw_path, msg

    status, body = consumer.verify(pid, cpid)
    assert status == 200, (status, body)
    event = callback.wait_for("/negotiations/%s/events" % cpid)
    assert event.path == "%s/negotiations/%s/events" % (prefix, cpid)
    assert "//" not in event.raw_path
    assert event.json["@type"] == "ContractNegotiationEventMessage"
    assert event.json["eventType"] == "FINALIZED", event.json
    assert event.json["providerPid"] == pid
    assert event.json["consumerPid"] == cpid
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    # one agreement, one event: nothing sent twice, nothing else sent
    assert len(callback.received("/agreement")) == 1
    assert len(callback.received("/events")) == 1
    assert len(callback.messages) == 2, callback.messages
    callback.assert_all_valid()


def test_negotiation_body_echoes_the_consumer_pid(gateway, callback):
    consumer = Consumer(gateway())
    cpid = new_pid()
    status, body = consumer.request(offer_message(OPEN),
                                    callback.url + "/cb", cpid)
    assert status == 201, (status, body)
    assert body["@type"] == "ContractNegotiation"
    assert body["consumerPid"] == cpid and body["state"] == "REQUESTED"
    assert URN_UUID.match(body["providerPid"]), body
    # a second negotiation gets its own providerPid
    pid2, _ = consumer.negotiate(offer_message(OPEN), callback.url + "/cb")
    assert pid2 != body["providerPid"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_callback(gateway, host):
    # certs/dev/tls.crt: SANs DNS:localhost and IP:127.0.0.1
    with CallbackServer(tls=True, host=host) as callback:
        assert callback.url.startswith("https://%s:" % host)
        consumer = Consumer(gateway())
        pid, cpid, _ = agreed(consumer, callback, OPEN)
        assert consumer.verify(pid, cpid)[0] == 200
        event = callback.wait_for("/negotiations/%s/events" % cpid)
        assert event.json["eventType"] == "FINALIZED"
        assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
        assert not callback.tls_failures


def test_tls_callback_with_an_untrusted_certificate(gateway, tmp_path):
    untrusted = make_tls_cert(tmp_path / "untrusted")
    with CallbackServer(tls=untrusted) as callback:
        srv = gateway()
        consumer = Consumer(srv)
        since = srv.log_size()
        pid, cpid = consumer.negotiate(offer_message(OPEN),
                                       callback.url + "/callback")
        # 3 attempts, 100..400 ms apart: over well within 5 s
        assert consumer.wait_state(pid, "TERMINATED", 5.0) == "TERMINATED"
        assert callback.messages == [], callback.messages
        # it connected once per attempt (a client that checks the
        # certificate after the handshake, as nginx does, just closes)
        assert callback.connections == 3, (callback.connections,
                                           callback.tls_failures)
        # the log says why
        assert srv.wait_for_log(
            r"(?i)certificate verify|verify (error|fail)|SSL_do_handshake|"
            r"certificate.*(fail|error|untrust|self.signed)", start=since), \
            srv.error_log()[since:]


# ---- terminations by the consumer --------------------------------------------------

def test_consumer_terminates_a_requested_negotiation(gateway, callback):
    consumer = Consumer(gateway(MANUAL))
    pid, cpid = requested(consumer, callback)
    status, body = consumer.terminate(pid, cpid, "cancelled",
                                      ["changed my mind"])
    assert status == 200, (status, body)
    assert consumer.state(pid) == "TERMINATED"
    status, body = consumer.terminate(pid, cpid)
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "TERMINATED"


def test_consumer_terminates_an_agreed_negotiation(gateway, callback):
    consumer = Consumer(gateway())
    pid, cpid, _ = agreed(consumer, callback)
    status, body = consumer.terminate(pid, cpid, "cancelled",
                                      [{"message": "peers send objects"}])
    assert status == 200, (status, body)
    assert consumer.state(pid) == "TERMINATED"
    status, body = consumer.terminate(pid, cpid)
    assert_negotiation_error(status, body, 400, pid)
    # a verification after the termination is a state error too
    status, body = consumer.verify(pid, cpid)
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "TERMINATED"


# ---- messages in the wrong state -------------------------------------------------

def test_verification_while_requested_is_400(gateway, callback):
    consumer = Consumer(gateway(MANUAL))
    pid, cpid = requested(consumer, callback)
    status, body = consumer.verify(pid, cpid)
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "REQUESTED"


def test_event_accepted_while_requested_is_400(gateway, callback):
    consumer = Consumer(gateway(MANUAL))
    pid, cpid = requested(consumer, callback)
    status, body = consumer.event(pid, cpid, "ACCEPTED")
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "REQUESTED"


def test_finalized_event_from_the_consumer_is_400(gateway, callback):
    consumer = Consumer(gateway())
    pid, cpid, _ = agreed(consumer, callback)
    status, body = consumer.event(pid, cpid, "FINALIZED")
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "AGREED"
    # also once verified: FINALIZED is the provider's to send
    assert consumer.verify(pid, cpid)[0] == 200
    callback.wait_for("/negotiations/%s/events" % cpid)
    assert consumer.wait_state(pid, "FINALIZED") == "FINALIZED"
    status, body = consumer.event(pid, cpid, "FINALIZED")
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "FINALIZED"


def test_counter_request_while_agreed_is_400(gateway, callback):
    consumer = Consumer(gateway())
    pid, cpid, _ = agreed(consumer, callback)
    status, body = consumer.counter(pid, cpid, offer_message(OPEN))
    assert_negotiation_error(status, body, 400, pid)
    assert consumer.state(pid) == "AGREED"


# ---- unknown negotiations, other parties' negotiations ----------------------------

def test_unknown_provider_pid_is_404(gateway):
    consumer = Consumer(gateway())
    pid, cpid = new_pid(), new_pid()
    calls = [("GET", lambda: consumer.get(pid)),
             ("verification", lambda: consumer.verify(pid, cpid)),
             ("termination", lambda: consumer.terminate(pid, cpid)),
             ("event", lambda: consumer.event(pid, cpid, "ACCEPTED")),
             ("request", lambda: consumer.counter(pid, cpid,
                                                  offer_message(OPEN)))]
    failures = []
    for name, call in calls:
        status, body = call()
        if status != 404 or not isinstance(body, dict) or \
                body.get("@type") != "ContractNegotiationError":
            failures.append("%s on an unknown providerPid: %d %r"
                            % (name, status, body))
    assert not failures, "\n".join(failures)


def test_another_party_cannot_see_or_change_a_negotiation(gateway, callback):
    srv = gateway()
    owner = Consumer(srv)
    other = Consumer(srv, "participant2")
    assert other.party_id != owner.party_id
    pid, cpid, _ = agreed(owner, callback)
    calls = [("GET", lambda: other.get(pid)),
             ("verification", lambda: other.verify(pid, cpid)),
             ("termination", lambda: other.terminate(pid, cpid)),
             ("event", lambda: other.event(pid, cpid, "ACCEPTED"))]
    failures = []
    for name, call in calls:
        status, body = call()
        if status != 404 or not isinstance(body, dict) or \
                body.get("@type") != "ContractNegotiationError":
            failures.append("%s by participant2: %d %r"
                            % (name, status, body))
    assert not failures, "\n".join(failures)
    assert owner.state(pid) == "AGREED"


# ---- the offer, judged at negotiation time ---------------------------------------

@pytest.mark.parametrize("offer_id", [P2_ONLY, EXPIRED])
def test_offer_refused_by_policy_is_terminated(gateway, callback, offer_id):
    consumer = Consumer(gateway())
    # the gateway answers 201 and refuses asynchronously, code "policy"
    pid, cpid = consumer.negotiate(offer_message(offer_id),
                                   callback.url + "/callback")
    msg = callback.wait_for("/negotiations/%s/termination" % cpid)
    body = msg.json
    assert body["@type"] == "ContractNegotiationTerminationMessage", body
    assert body["providerPid"] == pid and body["consumerPid"] == cpid
    assert body.get("code") == "policy", body
    assert body.get("reason"), body
    assert consumer.wait_state(pid, "TERMINATED") == "TERMINATED"
    assert callback.received("/agreement") == []


@pytest.mark.parametrize("offer_id", [COUNTED, RESEARCH])
def test_constraints_decided_at_use_are_agreed(gateway, callback, offer_id):
    consumer = Consumer(gateway())
    agreed(consumer, callback, offer_id)
    assert callback.received("/termination") == []


def test_assignee_offer_is_agreed_for_its_assignee(gateway, callback):
    consumer = Consumer(gateway(), "participant2")
    assert consumer.party_id == "EU.EORI.NL000000002"
    pid, cpid, msg = agreed(consumer, callback, P2_ONLY)
    assert msg.json["agreement"]["assignee"] == "EU.EORI.NL000000002"


NEVER_MADE = [
    ("unknown @id", offer_message(OPEN, at_id="urn:mim:offer:never-made")),
    ("@id of another dataset", offer_message("urn:mim:offer:air-open",
                                             target=PARKING)),
    ("target another dataset", offer_message(OPEN, target=AIR)),
    ("unknown target", offer_message(OPEN, target="urn:mim:dataset:nope")),
]


@pytest.mark.parametrize("name, offer", NEVER_MADE,
                         ids=[n for n, _ in NEVER_MADE])
def test_offer_we_never_made_is_400(gateway, callback, redis, name, offer):
    consumer = Consumer(gateway())
    status, body = consumer.request(offer, callback.url + "/callback")
    assert_negotiation_error(status, body, 400)
    assert neg_keys(redis) == [], "%s left state behind" % name
    assert callback.wait_quiet(0.3) == []


def test_counter_offer_is_terminated(gateway, callback):
    consumer = Consumer(gateway())
    changed = offer_message(OPEN, permission=[{
        "action": "use", "constraint": [{
            "leftOperand": "purpose", "operator": "eq",
            "rightOperand": "https://w3id.org/dpv#Marketing"}]}])
    pid, cpid = consumer.negotiate(changed, callback.url + "/callback")
    msg = callback.wait_for("/negotiations/%s/termination" % cpid)
    assert msg.json.get("code") == "counter-offer", msg.json
    assert msg.json.get("reason"), msg.json
    assert consumer.wait_state(pid, "TERMINATED") == "TERMINATED"
    assert callback.received("/agreement") == []


def test_same_rules_in_another_spelling_are_our_offer(gateway, callback):
    """Rules are compared as JSON values: member order is free, an empty
    constraint list is no constraint, assigner/assignee at the offer level
    are what real peers send."""
    consumer = Consumer(gateway())
    offer = offer_message(COUNTED)
    constraint = offer["permission"][0]["constraint"][0]
    offer["permission"][0]["constraint"][0] = dict(reversed(list(
        constraint.items())))
    offer["assigner"] = GATEWAY_ID
    offer["assignee"] = consumer.party_id
    pid, cpid = consumer.negotiate(offer, callback.url + "/callback")
    callback.wait_for("/negotiations/%s/agreement" % cpid)
    open_offer = offer_message(OPEN, permission=[{"action": "use",
                                                  "constraint": []}])
    pid, cpid = consumer.negotiate(open_offer, callback.url + "/callback")
    callback.wait_for("/negotiations/%s/agreement" % cpid)
    assert callback.received("/termination") == []


# ---- the operator decides (mim_dsp_auto_agree off) ---------------------------------

def test_operator_agrees(gateway, callback):
    srv = gateway(MANUAL)
    consumer = Consumer(srv)
    pid, cpid = consumer.negotiate(offer_message(OPEN),
                                   callback.url + "/callback")
    assert callback.wait_quiet(1.0) == [], callback.messages
    assert consumer.state(pid) == "REQUESTED"

    status, body = admin(srv, "GET", "/negotiations")
    assert status == 200, (status, body)
    assert isinstance(body, dict), body
    records = {r["providerPid"]: r for r in body["negotiations"]}
    assert pid in records, body
    record = records[pid]
    assert record["state"] == "REQUESTED", record
    assert record["consumer"] == consumer.party_id, record
    assert record["dataset"] == PARKING, record
    assert record["offerId"] == OPEN, record

    status, body = admin(srv, "POST", "/negotiations/%s/agree" % pid)
    assert status == 200, (status, body)
    msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
    check_agreement(msg, pid, cpid, OPEN, consumer.party_id)
    assert consumer.wait_state(pid, "AGREED") == "AGREED"
    # agreeing twice is a state conflict
    status, body = admin(srv, "POST", "/negotiations/%s/agree" % pid)
    assert status == 409, (status, body)
    assert len(callback.received("/agreement")) == 1


def test_operator_terminates(gateway, callback):
    srv = gateway(MANUAL)
    consumer = Consumer(srv)
    pid, cpid = requested(consumer, callback)
    status, body = admin(srv, "POST", "/negotiations/%s/terminate" % pid,
                         {"code": "declined", "reason": "not now"})
    assert status == 200, (status, body)
    msg = callback.wait_for("/negotiations/%s/termination" % cpid)
    assert msg.json["@type"] == "ContractNegotiationTerminationMessage"
    assert msg.json["providerPid"] == pid
    assert msg.json["consumerPid"] == cpid
    assert msg.json.get("code") == "declined", msg.json
    assert "not now" in json.dumps(msg.json.get("reason")), msg.json
    assert consumer.wait_state(pid, "TERMINATED") == "TERMINATED"

    for action in ("agree", "terminate"):
        status, body = admin(srv, "POST", "/negotiations/%s/%s"
                             % (pid, action))
        assert status == 409, (action, status, body)
    assert callback.received("/agreement") == []
    assert len(callback.received("/termination")) == 1
    status, body = admin(srv, "GET", "/negotiations")
    assert status == 200
    states = {r["providerPid"]: r["state"] for r in body["negotiations"]}
    assert states.get(pid) in (None, "TERMINATED"), body


def test_operator_decisions_on_unknown_negotiations_are_404(gateway):
    srv = gateway(MANUAL)
    for action, body in (("agree", None),
                         ("terminate", {"code": "declined",
                                        "reason": "no"})):
        status, answer = admin(srv, "POST", "/negotiations/%s/%s"
                               % (new_pid(), action), body)
        assert status == 404, (action, status, answer)


def test_outbound_token_goes_with_every_message(gateway, callback):
    """mim_dsp_outbound_token: the consumer can tell our messages from
    anybody's; without it no Authorization header is sent (the other
    tests)."""
    srv = gateway(dsp_extra="mim_dsp_outbound_token s3cr3t-for-consumers;")
    consumer = Consumer(srv)
    pid, cpid, msg = agreed(consumer, callback, OPEN, "/cb")
    assert msg.header("Authorization") == "Bearer s3cr3t-for-consumers"
    status, body = consumer.verify(pid, cpid)
    assert status == 200, (status, body)
    event = callback.wait_for("/negotiations/%s/events" % cpid)
    assert event.header("Authorization") == "Bearer s3cr3t-for-consumers"


def test_no_authorization_header_without_outbound_token(gateway, callback):
    consumer = Consumer(gateway())
    _, _, msg = agreed(consumer, callback, OPEN, "/cb")
    assert msg.header("Authorization") is None
    assert msg.header("Content-Type") == "application/json"
