"""A private redis-server on a loopback port, and a tiny RESP client.

    srv = RedisServer(workdir)     # picks a free port
    srv.start()                    # waits for PING -> PONG
    srv.command("SET", "k", "v")   # -> "OK"
    srv.command("GET", "k")        # -> b"v"
    srv.stop(); srv.start()        # same port, empty data (no persistence)
    srv.kill()                     # SIGKILL, as an outage would
"""

import signal
import socket
import subprocess
import time
from pathlib import Path

from . import paths
from .net import LOOPBACK, free_port


class RedisError(Exception):
    """An error reply (-ERR ...) from the server."""


class RedisDown(Exception):
    """redis-server did not start or is not answering."""


def encode_command(*args):
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise RedisDown("connection closed by redis-server")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def reply(self):
        """One RESP2 reply: str (+), RedisError (-), int (:), bytes or None
        ($), list or None (*)."""
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.exactly(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.reply() for _ in range(n)]
        raise RedisError("bad RESP reply line %r" % line)


def resp_command(host, port, *args, timeout=5.0):
    """Send one command on a new connection and return its reply; an error
    reply raises RedisError."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(encode_command(*args))
        reply = _Reader(sock).reply()
    if isinstance(reply, RedisError):
        raise reply
    return reply


class RedisServer:
    """redis-server with no persistence, bound to 127.0.0.1 only."""

    def __init__(self, workdir, port=None):
        self.host = LOOPBACK
        self.port = port or free_port()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "redis.log"
        self.proc = None

    @property
    def url(self):
        return "redis://%s:%d" % (self.host, self.port)

    def start(self, timeout=10.0):
        if self.running():
            return
        argv = [str(paths.REDIS_SERVER),
                "--save", "", "--appendonly", "no",
                "--bind", LOOPBACK, "--port", str(self.port),
                "--dir", str(self.dir), "--daemonize", "no",
                "--logfile", str(self.log_path)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RedisDown("redis-server exited with %s:\n%s"
                                % (self.proc.returncode, self.log_tail()))
            if self.ping():
                return
            time.sleep(0.05)
        self.kill()
        raise RedisDown("redis-server on port %d did not answer PING in "
                        "%.0fs:\n%s" % (self.port, timeout, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self):
        try:
            return resp_command(self.host, self.port, "PING",
                                timeout=1.0) == "PONG"
        except (OSError, RedisDown, RedisError):
            return False

    def command(self, *args):
        """Run one command, return the decoded RESP reply."""
        return resp_command(self.host, self.port, *args)

    def _end(self, sig, timeout):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self, timeout=10.0):
        """Orderly shutdown (SIGTERM); the port is closed on return."""
        self._end(signal.SIGTERM, timeout)

    def kill(self):
        """Abrupt death (SIGKILL), like a crashed or unplugged Redis."""
        self._end(signal.SIGKILL, 5.0)

    def restart(self):
        """Stop, then start again on the same port (data is gone)."""
        self.stop()
        self.start()

    def log_tail(self, lines=40):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no redis log)"
        return "\n".join(text.splitlines()[-lines:])
