"""Render nginx configs from conf/test/NAME.conf.in and run real nginx.

Template variables are @NAME@ (upper case, digits, underscores):

    @PREFIX@        the private prefix directory of this nginx (a tmp dir)
    @MODULE@        absolute path of build/ngx_mim_module.so
    @ROOT@          repository root
    @CERTS@         certs/dev (absolute)
    @BROKER_DATA@   conf/broker (absolute)
    @USER@          "user root;" when the tests run as root, else empty
    @PORT@ @BROKER_PORT@ @TLS_PORT@   free loopback ports
    @ANYTHING_PORT@ any other variable ending in _PORT gets a free port too
    anything else   given by the test as a keyword argument

An unknown variable is an error naming it, so a typo never renders as a
literal "@FOO@" that nginx might even accept.  Comment lines (first
non-blank character '#') are left as written.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from . import paths
from .net import LOOPBACK, free_port, wait_for_port

VAR = re.compile(r"@([A-Z][A-Z0-9_]*)@")
LISTEN = re.compile(r"^\s*listen\s+(?:127\.0\.0\.1:|localhost:)?(\d+)\b",
                    re.MULTILINE)
# Lines that mean a worker crashed or nginx hit an internal inconsistency;
# a test that provokes one on purpose calls allow_log(pattern).
BAD_LOG = re.compile(r"exited on signal|\[alert\]|AddressSanitizer|"
                     r"runtime error:")


class NginxError(Exception):
    """nginx refused the config or did not come up."""


def template_path(name):
    path = Path(name)
    if path.is_absolute():
        return path
    if not name.endswith(".conf.in"):
        name += ".conf.in"
    return paths.CONF_TEMPLATES / name


def base_vars(prefix):
    return {
        "PREFIX": str(prefix),
        "MODULE": str(paths.MODULE),
        "ROOT": str(paths.ROOT),
        "CERTS": str(paths.CERTS),
        "BROKER_DATA": str(paths.BROKER_DATA),
        "USER": "user root;" if os.geteuid() == 0 else "",
    }


def render(text, variables):
    """Substitute @VARS@; unknown *_PORT variables get free ports (added to
    variables); any other unknown variable raises NginxError."""
    missing = []

    def substitute(match):
        name = match.group(1)
        if name not in variables and name.endswith("PORT"):
            variables[name] = free_port()
        if name not in variables:
            missing.append(name)
            return match.group(0)
        return str(variables[name])

    # comment lines document the variables: leave them as written
    out = "".join(line if line.lstrip().startswith("#")
                  else VAR.sub(substitute, line)
                  for line in text.splitlines(keepends=True))
    if missing:
        raise NginxError("template variables with no value: %s"
                         % ", ".join("@%s@" % m for m in sorted(set(missing))))
    return out


def prepare_prefix(prefix):
    prefix = Path(prefix)
    for sub in ("", "html", "logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    return prefix


def render_config(template, prefix, **extra):
    """Render template into PREFIX/nginx.conf.

    Returns (conf_path, variables): variables holds every value used,
    ports included, so a test can find them again.
    """
    prefix = prepare_prefix(prefix)
    variables = base_vars(prefix)
    for name in ("PORT", "BROKER_PORT", "TLS_PORT"):
        variables[name] = free_port()
    variables.update({k: (str(v) if isinstance(v, Path) else v)
                      for k, v in extra.items()})
    text = template_path(template).read_text()
    conf = prefix / "nginx.conf"
    conf.write_text(render(text, variables))
    return conf, variables


def run_nginx_t(prefix, conf):
    """`nginx -t` on a rendered config: (returncode, stderr+stdout)."""
    proc = subprocess.run(
        [str(paths.NGINX), "-t", "-p", str(prefix), "-c", str(conf),
         "-e", str(Path(prefix) / "error.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=60)
    return proc.returncode, proc.stdout.decode(errors="replace")


def nginx_check(template, prefix, **extra):
    """Render template into prefix and run `nginx -t`: (rc, output)."""
    conf, _ = render_config(template, prefix, **extra)
    return run_nginx_t(prefix, conf)


def children_of(pid):
    """Pids whose parent is pid (nginx workers, cache manager...)."""
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[1]) == pid:
            kids.add(int(entry))
    return kids


class NginxServer:
    """One nginx master (daemon off) with its own prefix directory."""

    def __init__(self, template, prefix, **extra):
        self.template = template
        self.prefix = prepare_prefix(prefix)
        self.extra = dict(extra)
        self.conf, self.vars = render_config(template, self.prefix, **extra)
        self.error_log_path = self.prefix / "error.log"
        self.proc = None
        self.allowed_log = []

    # --- addresses ---------------------------------------------------------

    @property
    def port(self):
        return int(self.vars["PORT"])

    @property
    def broker_port(self):
        return int(self.vars["BROKER_PORT"])

    @property
    def tls_port(self):
        return int(self.vars["TLS_PORT"])

    def url(self, target="/", port=None, scheme="http"):
        """http://127.0.0.1:PORT + target (target kept exactly as given)."""
        return "%s://%s:%d%s" % (scheme, LOOPBACK, port or self.port, target)

    def tls_url(self, target="/"):
        return self.url(target, port=self.tls_port, scheme="https")

    def broker_url(self, target="/"):
        return self.url(target, port=self.broker_port)

    @property
    def html(self):
        """PREFIX/html: a place for files the test serves."""
        return self.prefix / "html"

    def listen_ports(self):
        return sorted({int(p) for p in LISTEN.findall(self.conf.read_text())})

    # --- logs --------------------------------------------------------------

    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except OSError:
            return ""

    def error_log_tail(self, lines=60):
        return "\n".join(self.error_log().splitlines()[-lines:])

    def allow_log(self, pattern):
        """Do not fail the test for BAD_LOG lines matching pattern."""
        self.allowed_log.append(re.compile(pattern))

    def bad_log_lines(self):
        return [line for line in self.error_log().splitlines()
                if BAD_LOG.search(line)
                and not any(p.search(line) for p in self.allowed_log)]

    def wait_for_log(self, pattern, timeout=5.0, start=0):
        """Wait until the error log (from byte offset start) matches pattern;
        returns the match or None."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.error_log()[start:])
            if match or time.monotonic() > deadline:
                return match
            time.sleep(0.05)

    def log_size(self):
        return len(self.error_log())

    # --- life cycle --------------------------------------------------------

    def check(self):
        """`nginx -t`: raise NginxError with nginx's own words on failure."""
        rc, out = run_nginx_t(self.prefix, self.conf)
        if rc != 0:
            raise NginxError("nginx -t failed for %s (%s):\n%s"
                             % (self.template, self.conf, out))
        return out

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15.0):
        self.check()
        stderr = open(self.prefix / "stderr.log", "ab")
        self.proc = subprocess.Popen(
            [str(paths.NGINX), "-p", str(self.prefix), "-c", str(self.conf),
             "-e", str(self.error_log_path)],
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        stderr.close()
        for port in self.listen_ports():
            if not wait_for_port(port, timeout, alive=self.running):
                self.stop()
                raise NginxError(
                    "nginx (%s) did not accept on port %d; error log:\n%s"
                    % (self.template, port, self.error_log_tail()))
        self._wait_workers(set(), timeout)

    def workers(self):
        return children_of(self.proc.pid) if self.running() else set()

    def _wait_workers(self, old, timeout, log_from=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise NginxError("nginx master exited (%s); error log:\n%s"
                                 % (self.proc.returncode,
                                    self.error_log_tail()))
            if log_from is not None:
                failed = re.search(r"\[emerg\].*", self.error_log()[log_from:])
                if failed:
                    raise NginxError("reload refused: %s" % failed.group(0))
            kids = self.workers()
            if kids and not (kids & old):
                return kids
            time.sleep(0.05)
        raise NginxError("nginx workers did not (re)start in %.0fs; error "
                         "log:\n%s" % (timeout, self.error_log_tail()))

    def reload(self, timeout=15.0, **extra):
        """Re-render the config (with extra vars changed, ports kept), send
        SIGHUP and wait until every old worker is replaced.  A config nginx
        refuses raises NginxError with the [emerg] line."""
        if extra:
            self.extra.update(extra)
            keep = {k: v for k, v in self.vars.items() if k.endswith("PORT")}
            keep.update(self.extra)
            self.conf, self.vars = render_config(self.template, self.prefix,
                                                 **keep)
        old = self.workers()
        log_from = self.log_size()
        self.proc.send_signal(signal.SIGHUP)
        return self._wait_workers(old, timeout, log_from=log_from)

    def stop(self, timeout=10.0):
        """SIGQUIT (graceful), SIGKILL for master and workers after timeout."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # workers first: once the master is gone they would be orphans
            for pid in self.workers():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait()
