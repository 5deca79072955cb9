"""Audit log helpers (docs/audit.md): find a server's per-worker files,
check their chains and checkpoints independently of the gateway's code
(hashlib + jwcrypto), run `mim audit verify|show`, tamper with copies.

    log_files(srv)             PREFIX/logs/audit.log.<n>, sorted
    read_lines / write_lines   a file as a list of bytes lines
    check_chain(lines, keys)   the independent check; returns the records
    mim_audit(*args)           (returncode, stdout, stderr) of build/mim
    verify_json(files, keys)   (returncode, report) of verify --json
    problems(report)           {(file name, line, kind), ...}
    wait_for(predicate)        poll until true (flushes are timed)
"""

import hashlib
import json
import subprocess
import time
from pathlib import Path

from . import paths
from .sign import b64url_decode, load_keys, verify_detached_jws

ZERO_HASH = "0" * 64


def log_files(srv, name="audit.log"):
    """The live per-worker files (PATH.<digits>) of a server."""
    return sorted(p for p in (Path(srv.prefix) / "logs").glob(name + ".*")
                  if p.suffix[1:].isdigit())


def read_lines(path):
    data = Path(path).read_bytes()
    if data.endswith(b"\n"):
        data = data[:-1]
    return data.split(b"\n") if data else []


def write_lines(path, lines):
    Path(path).write_bytes(b"".join(line + b"\n" for line in lines))


def records(path, kind="req"):
    return [json.loads(line) for line in read_lines(path)
            if json.loads(line).get("type") == kind]


def checkpoint_payload(rec):
    """What a checkpoint signs: {"chain","seq","head","time"}, compact."""
    return json.dumps({"chain": rec["chain"], "seq": rec["seq"],
                       "head": rec["head"], "time": rec["time"]},
                      separators=(",", ":"), ensure_ascii=False).encode()


def check_chain(lines, keys, first_prev=None):
    """Check a file on its own: seq +1 per line, prev = SHA-256 (hex) of
    the previous line's bytes, every checkpoint's JWS (typ, alg, kid)
    over its payload with head = prev.  Raises AssertionError; returns the
    parsed lines."""
    keys = load_keys(keys)
    out = []
    prev_hash = first_prev
    for i, line in enumerate(lines, 1):
        rec = json.loads(line)
        assert list(rec)[0] == "seq" and list(rec)[-1] == "prev", (i, rec)
        if out:
            assert rec["seq"] == out[-1]["seq"] + 1, (i, rec["seq"])
        elif rec["type"] == "start" and rec.get("after") == "new":
            assert rec["seq"] == 1 and rec["prev"] == ZERO_HASH, rec
        if prev_hash is not None:
            assert rec["prev"] == prev_hash, "line %d: prev mismatch" % i
        if rec["type"] == "checkpoint":
            assert rec["head"] == rec["prev"], i
            header = verify_detached_jws(rec["jws"], checkpoint_payload(rec),
                                         keys)
            assert header["typ"] == "mim-audit-checkpoint", header
            assert list(header)[:2] == ["alg", "kid"], header
        prev_hash = hashlib.sha256(line).hexdigest()
        out.append(rec)
    return out


def jws_header(token):
    return json.loads(b64url_decode(token.split(".")[0]))


def mim_audit(*args, timeout=120):
    proc = subprocess.run([str(paths.MIM_TOOL), "audit"] + [str(a)
                                                           for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"))


def verify_json(files, keys):
    """keys: a list of options, e.g. ["--key", pem_path]."""
    rc, out, err = mim_audit("verify", "--json", *keys, *files)
    assert out.strip(), "no JSON report (exit %d): %s" % (rc, err)
    return rc, json.loads(out)


def problems(report):
    return {(Path(p["file"]).name, p["line"], p["kind"])
            for p in report["problems"]}


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.05)
