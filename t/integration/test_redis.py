"""The Redis client on nginx events (docs/redis.md), seen through the token
endpoint's replay check: AUTH and SELECT, unix sockets, per-command
timeouts, outages at start and mid-run, clients that leave before the
reply, and the configuration errors of mim_redis."""

import json
import signal
import socket
import subprocess
import time

import pytest

from mimtest import paths
from mimtest.identity import (
    client_assertion, decode_jwt, party, post_token, start_gateway,
    token_form)
from mimtest.redis import RedisServer, _Reader, encode_command


@pytest.fixture
def p1(dev_certs):
    return party("participant1")


def fresh_form(p):
    return token_form(p.party_id, client_assertion(p))


def jti_key(p, form):
    assertion = dict(x.split("=", 1) for x in form.split("&"))[
        "client_assertion"]
    return "mim:jti:%s:%s" % (p.party_id, decode_jwt(assertion)[1]["jti"])


def redis_session(port, *commands, host="127.0.0.1", unix=None):
    """Run commands on one connection (AUTH, SELECT stick); the replies."""
    if unix:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(unix)
    else:
        sock = socket.create_connection((host, port), timeout=5)
    with sock:
        sock.sendall(b"".join(encode_command(*c) for c in commands))
        reader = _Reader(sock)
        return [reader.reply() for _ in commands]


def wait_for_status(srv, p, status, timeout=12.0):
    deadline = time.monotonic() + timeout
    while True:
        resp = post_token(srv, fresh_form(p))
        if resp.status == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.1)


def error_of(resp):
    return json.loads(resp.body)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own (a password or a stop does not
    touch the session's)."""
    server = RedisServer(tmp_path / "redis")
    yield server
    server.kill()


def test_password_and_db(nginx, tmp_path, private_redis, p1):
    private_redis.start()
    private_redis.command("CONFIG", "SET", "requirepass", "s3cret")
    srv = start_gateway(nginx, tmp_path, redis=private_redis,
                        redis_options="password=s3cret db=3")
    form = fresh_form(p1)
    resp = post_token(srv, form)
    assert resp.status == 200, resp.body

    auth, select, value, other = redis_session(
        private_redis.port, ("AUTH", "s3cret"), ("SELECT", "3"),
        ("GET", jti_key(p1, form)), ("DBSIZE",))
    assert (auth, select, value, other) == ("OK", "OK", b"1", 1)
    auth, size = redis_session(private_redis.port, ("AUTH", "s3cret"),
                               ("DBSIZE",))
    assert size == 0         # nothing in db 0


def test_wrong_password_is_503_with_the_reason(nginx, tmp_path,
                                               private_redis, p1):
    private_redis.start()
    private_redis.command("CONFIG", "SET", "requirepass", "s3cret")
    srv = start_gateway(nginx, tmp_path, redis=private_redis,
                        redis_options="password=wrong")
    resp = post_token(srv, fresh_form(p1))
    # until the handshake fails the command waits behind AUTH; after, the
    # connection is down: 503 either way, with Redis' own words or ours
    assert resp.status == 503, resp.body
    assert error_of(resp)["error"] == "temporarily_unavailable"
    assert srv.wait_for_log(r"refused AUTH: .*(WRONGPASS|invalid)")
    resp = post_token(srv, fresh_form(p1))
    assert resp.status == 503
    assert "refused AUTH" in error_of(resp)["error_description"]


def test_unix_socket(nginx, tmp_path, p1):
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [str(paths.REDIS_SERVER), "--port", "0", "--unixsocket", str(sock),
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        srv = start_gateway(nginx, tmp_path,
                            redis="mim_redis unix:%s;" % sock)
        form = fresh_form(p1)
        assert post_token(srv, form).status == 200
        assert redis_session(0, ("GET", jti_key(p1, form)),
                             unix=str(sock)) == [b"1"]
        assert post_token(srv, form).status == 400
    finally:
        proc.kill()
        proc.wait()


def test_redis_down_at_start_then_up(nginx, tmp_path, private_redis, p1):
    srv = start_gateway(nginx, tmp_path, redis=private_redis)
    resp = post_token(srv, fresh_form(p1))
    assert resp.status == 503
    reason = error_of(resp)["error_description"]
    assert "127.0.0.1:%d" % private_redis.port in reason
    assert "refused" in reason.lower() or "connect" in reason.lower(), reason

    private_redis.start()
    resp = wait_for_status(srv, p1, 200)
    assert resp.status == 200, resp.body


def test_command_timeout_then_recovery(nginx, tmp_path, redis, p1):
    srv = start_gateway(nginx, tmp_path, redis=redis,
                        redis_options="timeout=300ms")
    assert post_token(srv, fresh_form(p1)).status == 200

    redis.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = post_token(srv, fresh_form(p1))
        elapsed = time.monotonic() - started
        assert resp.status == 503, resp.body
        assert "did not answer within 300 ms" \
            in error_of(resp)["error_description"]
        assert 0.25 <= elapsed < 2.0, elapsed
    finally:
        redis.proc.send_signal(signal.SIGCONT)

    resp = wait_for_status(srv, p1, 200)
    assert resp.status == 200, resp.body


def test_client_gone_before_the_reply(nginx, tmp_path, redis, p1):
    """The request ends (499) while its SET waits; the late reply is
    dropped, and the next requests are served."""
    srv = start_gateway(nginx, tmp_path, redis=redis,
                        redis_options="timeout=5s")
    assert post_token(srv, fresh_form(p1)).status == 200

    form = fresh_form(p1)
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        body = form.encode()
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"POST /connect/token HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/x-www-form-urlencoded"
                         b"\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            time.sleep(0.3)
        access = srv.prefix / "access.log"
        deadline = time.monotonic() + 3
        while b'" 499 ' not in access.read_bytes() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b'"POST /connect/token HTTP/1.1" 499 ' in access.read_bytes()
    finally:
        redis.proc.send_signal(signal.SIGCONT)

    # the SET did run; its reply found no request
    deadline = time.monotonic() + 3
    while redis.command("EXISTS", jti_key(p1, form)) != 1 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis.command("EXISTS", jti_key(p1, form)) == 1
    for _ in range(4):
        assert post_token(srv, fresh_form(p1)).status == 200


def test_many_requests_in_flight(nginx, tmp_path, redis, p1):
    """Concurrent token requests share one pipelined connection per
    worker; each gets its own reply."""
    from concurrent.futures import ThreadPoolExecutor

    srv = start_gateway(nginx, tmp_path, redis=redis)
    forms = [fresh_form(p1) for _ in range(24)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda f: post_token(srv, f).status,
                                 forms + forms))
    assert sorted(statuses) == [200] * 24 + [400] * 24


# ---- configuration ----------------------------------------------------------

def auth_check(nginx_check, tmp_path, redis_line, template="auth"):
    (tmp_path / "did-web").mkdir(exist_ok=True)
    issuers = tmp_path / "issuers.json"
    issuers.write_text('{"issuers":[]}')
    return nginx_check(template, SIGNING_KEY=paths.CERTS / "sign-es256.key",
                       REDIS=redis_line, ISSUERS=issuers,
                       DID_WEB=tmp_path / "did-web", AUTH_EXTRA="")


@pytest.mark.parametrize("line, words", [
    ("mim_redis 127.0.0.1:6379 bogus=1;", "invalid parameter \"bogus=1\""),
    ("mim_redis 127.0.0.1:6379 timeout=0;", "invalid parameter"),
    ("mim_redis 127.0.0.1:6379 db=x;", "invalid parameter \"db=x\""),
    ("mim_redis 127.0.0.1:6379; mim_redis 127.0.0.1:6380;", "is duplicate"),
    ("mim_redis 127.0.0.1:6379/0;", "mim_redis \"127.0.0.1:6379/0\""),
    ("mim_redis no-such-host.invalid:6379;", "mim_redis"),
])
def test_mim_redis_errors(nginx_check, tmp_path, line, words):
    rc, out = auth_check(nginx_check, tmp_path, line)
    assert rc != 0, out
    assert "[emerg]" in out and words in out, out


def test_mim_redis_accepted(nginx_check, tmp_path):
    rc, out = auth_check(nginx_check, tmp_path,
                         "mim_redis localhost:6379 password=x db=2 "
                         "timeout=250ms;")
    assert rc == 0, out


def test_token_endpoint_needs_a_replay_cache(nginx_check, tmp_path):
    import re
    text = (paths.CONF_TEMPLATES / "auth.conf.in").read_text()
    template = tmp_path / "no-zone.conf.in"
    template.write_text(re.sub(r"^\s*mim_zone .*$", "", text, flags=re.M))
    rc, out = auth_check(nginx_check, tmp_path, "", template=str(template))
    assert rc != 0
    assert "mim_token_endpoint requires mim_redis or mim_zone" in out, out
    rc, out = auth_check(nginx_check, tmp_path,
                         "mim_redis 127.0.0.1:6379;",
                         template=str(template))
    assert rc == 0, out


def test_http2_token_request_waits_for_redis(nginx, tmp_path, redis, p1):
    """Over HTTP/2 (h2c) too: the stream waits for SET NX, then gets its
    token; the token opens mim_auth over HTTP/2."""
    from mimtest import curl
    from mimtest.identity import bearer

    srv = start_gateway(nginx, tmp_path, redis=redis)
    h2 = "http://127.0.0.1:%d" % int(srv.vars["H2C_PORT"])
    form = fresh_form(p1)
    resp = curl(h2 + "/connect/token", method="POST", body=form.encode(),
                headers={"Content-Type":
                         "application/x-www-form-urlencoded"})
    assert resp.status == 200, resp.body
    assert redis.command("EXISTS", jti_key(p1, form)) == 1
    token = json.loads(resp.body)["access_token"]
    resp = curl(h2 + "/api/x", headers=bearer(token))
    assert resp.status == 200
    assert json.loads(resp.body)["party"] == p1.party_id
    resp = curl(h2 + "/connect/token", method="POST", body=form.encode(),
                headers={"Content-Type":
                         "application/x-www-form-urlencoded"})
    assert resp.status == 400
    assert "jti" in error_of(resp)["error_description"]
