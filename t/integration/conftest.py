"""Fixtures of the integration tests: real nginx, real redis-server.

    nginx         factory: nginx("sign", SIGNING_KEY=...) -> NginxServer
    nginx_check   nginx_check("sign-minimal", SIGNING=...) -> (rc, output)
    redis         a running, empty redis-server (RedisServer)
    redis_server  the same server without the per-test FLUSHALL/restart
    dev_certs     Path of certs/dev (made by certs/make-dev-pki.sh if needed)
    mim_module    Path of build/ngx_mim_module.so (fails: "run make first")

A missing dependency fails the run with the package to install; it never
turns into skipped tests.  When a test fails, the tail of every nginx
error log it used is attached to the report.  See t/README.md.
"""

import importlib
import os
import subprocess

import pytest

from mimtest import paths
from mimtest.nginx import NginxServer, nginx_check as _nginx_check
from mimtest.redis import RedisServer

PYTHON_MODULES = [("jwcrypto", "python3-jwcrypto"),
                  ("cryptography", "python3-cryptography"),
                  ("requests", "python3-requests"),
                  ("h2", "python3-h2")]
PROGRAMS = [(paths.NGINX, "nginx"), (paths.REDIS_SERVER, "redis-server"),
            (paths.CURL, "curl"), (paths.OPENSSL, "openssl")]


def pytest_configure(config):
    problems = []
    for module, package in PYTHON_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append("python module %s (%s): apt-get install %s"
                            % (module, exc, package))
    for program, package in PROGRAMS:
        if not os.access(program, os.X_OK):
            problems.append("%s not found: apt-get install %s"
                            % (program, package))
    if problems:
        raise pytest.UsageError(
            "integration tests cannot run (tools/install-deps.sh installs "
            "all of these; run with /usr/bin/python3):\n  "
            + "\n  ".join(problems))


# ---- build products and dev PKI -------------------------------------------

@pytest.fixture(scope="session")
def mim_module():
    if not paths.MODULE.is_file():
        pytest.fail("%s does not exist: run make first (MIM_BUILD=%s)"
                    % (paths.MODULE, paths.BUILD), pytrace=False)
    return paths.MODULE


@pytest.fixture(scope="session")
def dev_certs():
    if not paths.CERTS_DONE.exists():
        if not paths.MAKE_PKI.is_file():
            pytest.fail("%s is missing and so is %s"
                        % (paths.CERTS_DONE, paths.MAKE_PKI), pytrace=False)
        proc = subprocess.run([str(paths.MAKE_PKI), str(paths.CERTS)],
                              cwd=str(paths.ROOT), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=300)
        if proc.returncode != 0 or not paths.CERTS_DONE.exists():
            pytest.fail("certs/make-dev-pki.sh certs/dev failed (exit %d):\n%s"
                        % (proc.returncode,
                           proc.stdout.decode(errors="replace")),
                        pytrace=False)
    return paths.CERTS


# ---- nginx ------------------------------------------------------------------

def _register(request, server):
    request.node.__dict__.setdefault("_mim_servers", []).append(server)


@pytest.fixture
def nginx(request, tmp_path, mim_module, dev_certs):
    """Factory: nginx(template, **vars) renders conf/test/TEMPLATE.conf.in
    into a fresh prefix, runs nginx -t, starts nginx and waits for its
    listen ports.  Several instances per test are fine.  All are stopped
    at teardown; a worker crash or [alert] in a log fails the test."""
    servers = []

    def start(template, **variables):
        prefix = tmp_path / ("nginx-%d" % len(servers))
        server = NginxServer(template, prefix, **variables)
        servers.append(server)
        _register(request, server)
        server.start()
        return server

    yield start
    bad = []
    for server in servers:
        server.stop()
        bad += ["%s: %s" % (server.prefix, line)
                for line in server.bad_log_lines()]
    if bad:
        pytest.fail("nginx error log shows crashes or alerts:\n"
                    + "\n".join(bad), pytrace=False)


@pytest.fixture
def nginx_check(request, tmp_path, mim_module, dev_certs):
    """nginx_check(template, **vars) -> (rc, output of nginx -t)."""
    count = [0]

    def check(template, **variables):
        count[0] += 1
        prefix = tmp_path / ("check-%d" % count[0])
        return _nginx_check(template, prefix, **variables)

    return check


# ---- redis ------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(request, redis_server):
    """The session's redis-server, running and empty.  A test may stop(),
    kill() or restart() it; the next test gets it back."""
    if not redis_server.running():
        redis_server.start()
    redis_server.command("FLUSHALL")
    _register(request, redis_server)
    return redis_server


# ---- failure reports --------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for server in item.__dict__.get("_mim_servers", []):
        if isinstance(server, NginxServer):
            report.sections.append(
                ("nginx error log (%s, tail)" % server.prefix,
                 server.error_log_tail()))
        else:
            report.sections.append(
                ("redis log (port %d, tail)" % server.port,
                 server.log_tail()))
