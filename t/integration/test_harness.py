"""The harness checks itself: real nginx with the module, real redis-server,
and clients that read what is on the wire (trailers included)."""

import gzip
import os
import socket

import pytest

from mimtest import free_port, request, curl, paths
from mimtest.h2client import h2_request
from mimtest.nginx import NginxError, render
from mimtest.redis import RedisDown, RedisError, encode_command


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_render_fails_on_unknown_variable_and_fills_ports():
    variables = {"A": "x"}
    out = render("a @A@ listen @EXTRA_PORT@;", variables)
    assert out == "a x listen %d;" % variables["EXTRA_PORT"]
    with pytest.raises(NginxError, match="@TYPO@"):
        render("a @TYPO@", {})
    # comments document variables; they are not substituted
    assert render("  # @NOT_SET@ @X_PORT@\n", {}) == "  # @NOT_SET@ @X_PORT@\n"


def test_module_loads_and_nginx_serves(nginx, mim_module):
    srv = nginx("harness", GREETING="hello from the harness")
    resp = request("GET", srv.url("/hello"))
    assert resp.status == 200
    assert resp.body == b"hello from the harness\n"
    assert len(srv.workers()) == 2
    log = srv.error_log()
    assert "start worker process" in log, log


def test_module_directive_unknown_without_load_module(nginx_check, tmp_path):
    template = tmp_path / "no-module.conf.in"
    text = (paths.CONF_TEMPLATES / "harness.conf.in").read_text()
    lines = [ln for ln in text.splitlines()
             if not ln.startswith("load_module")]
    template.write_text("\n".join(lines) + "\n")
    rc, out = nginx_check(str(template), GREETING="x")
    assert rc != 0
    assert 'unknown directive "mim_sign"' in out, out


def test_nginx_check_reports_the_error(nginx_check):
    rc, out = nginx_check("harness", GREETING='unbalanced"')
    assert rc != 0
    assert "[emerg]" in out, out


def test_reload_replaces_workers_and_config(nginx):
    srv = nginx("harness", GREETING="before")
    old = srv.workers()
    new = srv.reload(GREETING="after")
    assert new and not (new & old)
    assert request("GET", srv.url("/hello")).body == b"after\n"


def test_reload_with_bad_config_is_refused(nginx):
    srv = nginx("harness", GREETING="kept")
    with pytest.raises(NginxError, match="emerg"):
        srv.reload(GREETING='bad"', timeout=5)
    # the old workers go on with the old config
    assert request("GET", srv.url("/hello")).body == b"kept\n"


def test_stop_closes_the_ports(nginx):
    srv = nginx("harness", GREETING="x")
    srv.stop()
    assert not srv.running()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def _write_payload(srv, size=200000):
    data = os.urandom(size // 2).hex().encode()[:size]
    (srv.html / "payload.txt").write_bytes(data)
    return data


def test_raw_client_reads_chunked_body_and_trailers(nginx):
    srv = nginx("harness", GREETING="x")
    data = _write_payload(srv)
    resp = request("GET", srv.url("/trailers/payload.txt"),
                   headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200 and resp.complete
    assert resp.chunked
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.body) == data
    assert resp.trailers.get("x-test-trailer") == "one two"
    assert resp.trailers.get("X-Second") == "2"
    assert "X-Test-Trailer" not in resp.headers


def test_raw_client_http10_reads_to_close(nginx):
    srv = nginx("harness", GREETING="x")
    data = _write_payload(srv)
    resp = request("GET", srv.url("/trailers/payload.txt"), version="1.0")
    assert resp.version == "HTTP/1.1" and resp.status == 200
    assert not resp.chunked and len(resp.trailers) == 0
    assert resp.body == data


def test_raw_client_head_and_query_target(nginx):
    srv = nginx("harness", GREETING="x")
    resp = request("HEAD", srv.url("/hello?a=1&b=%20"))
    assert resp.status == 200 and resp.body == b""
    assert resp.headers["Content-Length"] == "2"


def test_curl_http2_reads_trailers_cleartext_and_tls(nginx):
    srv = nginx("harness", GREETING="x")
    data = _write_payload(srv)
    for url in ("http://127.0.0.1:%d/trailers/payload.txt"
                % int(srv.vars["H2C_PORT"]),
                srv.tls_url("/trailers/payload.txt")):
        resp = curl(url, headers={"Accept-Encoding": "gzip"})
        assert resp.version == "HTTP/2", url
        assert resp.status == 200
        assert gzip.decompress(resp.body) == data
        assert resp.trailers.get("x-test-trailer") == "one two", url
        assert resp.trailers.get("x-second") == "2"


def test_h2_client_reads_trailers_with_and_without_content_length(nginx):
    srv = nginx("harness", GREETING="x")
    data = _write_payload(srv)
    h2c = "http://127.0.0.1:%d" % int(srv.vars["H2C_PORT"])
    for url in (h2c + "/trailers/payload.txt",
                srv.tls_url("/trailers/payload.txt")):
        resp = h2_request(url, headers={"Accept-Encoding": "gzip"})
        assert resp.status == 200 and resp.complete, url
        assert gzip.decompress(resp.body) == data
        assert resp.trailers.get("x-test-trailer") == "one two", url
    resp = h2_request(srv.tls_url("/trailers-length/payload.txt"))
    assert resp.headers["content-length"] == str(len(data))
    assert resp.body == data
    assert resp.trailers.get("x-test-trailer") == "one two"


def test_redis_ping_set_get(redis):
    assert redis.command("PING") == "PONG"
    assert redis.command("SET", "mim:test", "v\r\n1") == "OK"
    assert redis.command("GET", "mim:test") == b"v\r\n1"
    assert redis.command("INCR", "mim:n") == 1
    assert redis.command("GET", "mim:missing") is None
    with pytest.raises(RedisError, match="unknown command"):
        redis.command("NOSUCHCOMMAND")


def test_redis_is_empty_for_each_test(redis):
    assert redis.command("DBSIZE") == 0
    assert encode_command("GET", "k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"


def test_redis_killed_then_restarted(redis):
    redis.command("SET", "k", "v")
    redis.kill()
    assert not redis.running()
    with pytest.raises((OSError, RedisDown)):
        redis.command("PING")
    redis.start()
    assert redis.command("PING") == "PONG"
    assert redis.command("GET", "k") is None     # no persistence
    redis.restart()
    assert redis.command("SET", "k2", "v2") == "OK"


def test_redis_back_after_a_test_stopped_it(redis):
    # the previous test left it restarted; stop it here, the fixture
    # brings it back for the next test
    redis.stop()
    assert not redis.ping()
