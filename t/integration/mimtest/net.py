"""Loopback ports."""

import socket
import time

LOOPBACK = "127.0.0.1"


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    The kernel picks it (bind to port 0); we release it at once, so there
    is a small window in which someone else could take it.  Good enough
    for tests that start their servers right after.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_accepts(port, host=LOOPBACK):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port, timeout=10.0, alive=None, host=LOOPBACK):
    """Wait until host:port accepts a TCP connection.

    alive: optional callable; when it returns False (say, the server
    process died) waiting stops at once.  Returns True when the port
    accepts, False on timeout or death.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        if port_accepts(port, host):
            return True
        time.sleep(0.05)
    return False
