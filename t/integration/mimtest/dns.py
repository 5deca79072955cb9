"""A tiny DNS server on loopback UDP for nginx's resolver in tests.

    with DnsServer({"cb.test": "127.0.0.1"}) as dns:
        ... "resolver 127.0.0.1:%d ipv6=off valid=1s;" % dns.port ...

A queries for a known name get its address (one A record, TTL 1);
other names get NXDOMAIN; other query types get an empty answer.  Just
enough of RFC 1035 for nginx's resolver; every query is recorded in
.queries (name, type)."""

import socket
import struct
import threading

TYPE_A = 1


class DnsServer:
    def __init__(self, names):
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = self._answer(data)
            if answer is not None:
                self.sock.sendto(answer, peer)

    def _answer(self, query):
        if len(query) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            return None
        labels, pos = [], 12
        while pos < len(query) and query[pos] != 0:
            n = query[pos]
            labels.append(query[pos + 1:pos + 1 + n].decode("ascii",
                                                            "replace"))
            pos += 1 + n
        pos += 1
        if pos + 4 > len(query):
            return None
        qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
        question = query[12:pos + 4]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))

        address = self.names.get(name)
        rd = flags & 0x0100
        if address is None:
            # a response, RD copied, RA, NXDOMAIN
            head = struct.pack("!HHHHHH", qid, 0x8000 | rd | 0x0080 | 3,
                               1, 0, 0, 0)
            return head + question
        if qtype != TYPE_A:
            head = struct.pack("!HHHHHH", qid, 0x8000 | rd | 0x0080, 1, 0,
                               0, 0)
            return head + question
        head = struct.pack("!HHHHHH", qid, 0x8000 | rd | 0x0080, 1, 1, 0, 0)
        record = struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 1, 4) \
            + socket.inet_aton(address)
        return head + question + record
