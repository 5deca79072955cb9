"""The signed audit log (docs/audit.md): real traffic through nginx with two
workers, each writing its own hash chain; the files checked independently
(hashlib + jwcrypto) and by `mim audit verify`; every kind of tampering
applied to copies and reported at its line; reload, USR1 rotation and a
worker killed with SIGKILL in the middle."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import requests

from mimtest import paths
from mimtest.audit import (check_chain, jws_header, log_files, mim_audit,
                           problems, read_lines, records, verify_json,
                           wait_for, write_lines)

KEY = paths.CERTS / "sign-es256.key"
PUB = paths.CERTS / "sign-es256.pub.pem"
OTHER_PUB = paths.CERTS / "sign-ed25519.pub.pem"
BY_KEY = ["--key", str(PUB)]
FAST = "checkpoint=20 interval=1s flush=100ms"


def start(nginx, options=FAST, signing=""):
    srv = nginx("audit", SIGNING_KEY=KEY, SIGNING_OPTIONS=signing,
                AUDIT_OPTIONS=options)
    (srv.html / "a.json").write_text('{"id":"urn:ngsi-ld:X:1"}\n')
    return srv


def traffic(srv, n, tag="r"):
    """n requests, each on a new connection (reuseport spreads them over
    both workers); returns the URIs logged."""
    uris = []
    for i in range(n):
        uri = "/data/%s?i=%d" % (tag, i)
        assert requests.get(srv.url(uri), timeout=10).status_code == 200
        uris.append(uri)
    return uris


def all_records(files):
    return [rec for f in files for rec in records(f)]


def flushed(srv, uris):
    """wait until every uri is in some file (the buffers flush on a timer)"""
    def done():
        logged = {r["uri"] for r in all_records(log_files(srv))}
        return set(uris) <= logged
    wait_for(done, what="records on disk")


# ---- what is written -------------------------------------------------------

def test_two_workers_write_verifiable_chains(nginx):
    srv = start(nginx)
    uris = traffic(srv, 60)
    caller = requests.get(
        srv.url("/caller/x?agreement=urn:agreement:7"), timeout=10,
        headers={"X-Test-Party": "EU.EORI.NL000000001",
                 # quotes, a backslash and a byte that is not UTF-8
                 "X-Test-Subject": b'alice "x" \\ \xe9',
                 "X-Test-Decision": "permit",
                 "X-Test-Reasons": '["rule urn:r:1 permits", {"n": 1}]'})
    signed = requests.get(srv.url("/signed/a.json"), timeout=10)
    quiet = requests.get(srv.url("/quiet/x"), timeout=10)
    assert caller.status_code == signed.status_code == quiet.status_code \
        == 200
    srv.stop()

    files = log_files(srv)
    assert [f.name for f in files] == ["audit.log.0", "audit.log.1"]
    keys = PUB.read_bytes()
    for f in files:
        lines = check_chain(read_lines(f), keys)
        # a fresh chain per worker, ended by the exit checkpoint
        assert lines[0]["type"] == "start" and lines[0]["after"] == "new"
        assert lines[-1]["type"] == "checkpoint"
        assert lines[-1]["reason"] == "exit"
        assert lines[0]["chain"].endswith(":%s" % f)
        worker = int(f.suffix[1:])
        assert {r["worker"] for r in records(f)} <= {worker}
        # every 20 lines at most
        cps = [i for i, r in enumerate(lines) if r["type"] == "checkpoint"]
        assert all(b - a <= 21 for a, b in zip([-1] + cps, cps))
    per_file = [len(records(f)) for f in files]
    assert min(per_file) > 0, "both workers served: %s" % per_file

    recs = all_records(files)
    assert sorted(r["uri"] for r in recs) == sorted(
        uris + ["/caller/x?agreement=urn:agreement:7", "/signed/a.json"])
    assert len({r["request_id"] for r in recs}) == len(recs)
    plain = next(r for r in recs if r["uri"] == uris[0])
    assert plain["method"] == "GET" and plain["status"] == 200
    assert plain["client"] == "127.0.0.1" and plain["bytes"] > 0
    assert plain["party"] is None and plain["digest"] is None
    assert plain["time"].endswith("Z") and len(plain["time"]) == 24
    who = next(r for r in recs if r["uri"].startswith("/caller/"))
    assert who["party"] == "EU.EORI.NL000000001"
    assert who["subject"] == 'alice "x" \\ \u00e9'
    assert who["agreement"] == "urn:agreement:7"
    assert who["decision"] == "permit"
    assert who["reasons"] == ["rule urn:r:1 permits", {"n": 1}]
    sig = next(r for r in recs if r["uri"] == "/signed/a.json")
    assert sig["digest"] == signed.headers["Content-Digest"]

    rc, report = verify_json(files, BY_KEY)
    assert rc == 0, report["problems"]
    assert report["ok"] is True and report["problems"] == []
    assert report["records"] == len(recs)
    assert report["verified"] == report["lines"] == sum(
        len(read_lines(f)) for f in files)
    assert report["from"] <= plain["time"] <= report["to"]

    # the text form says OK with the counts
    rc, out, _ = mim_audit("verify", *BY_KEY, *files)
    assert rc == 0 and out.splitlines()[-1].startswith(
        "OK: 2 files, %d lines (%d records" % (report["lines"], len(recs)))


def test_jwks_and_ca_key_sources(nginx, tmp_path):
    srv = start(nginx, signing="mim_signing_cert %s;"
                % (paths.CERTS / "sign-es256-chain.crt"))
    jwks = requests.get(srv.url("/.well-known/jwks.json"), timeout=10)
    traffic(srv, 10)
    srv.stop()
    files = log_files(srv)
    for f in files:
        for cp in records(f, "checkpoint"):
            assert "x5c" in jws_header(cp["jws"])
    (tmp_path / "jwks.json").write_bytes(jwks.content)
    for keys in (["--jwks", tmp_path / "jwks.json"],
                 ["--ca", paths.CERTS / "ca-bundle.crt"]):
        rc, report = verify_json(files, keys)
        assert rc == 0, (keys, report["problems"])
    # a CA that did not issue the key
    rc, report = verify_json(files, ["--ca", paths.CERTS / "untrusted-ca.crt"])
    assert rc == 1
    assert {p["kind"] for p in report["problems"]} >= {"unknown_key"}


def test_live_file_tail_is_reported_not_accepted(nginx):
    srv = start(nginx, options="checkpoint=1000 interval=1h flush=100ms")
    uris = traffic(srv, 8)
    flushed(srv, uris)
    rc, report = verify_json(log_files(srv), BY_KEY)
    assert rc == 1 and report["ok"] is False
    kinds = {p["kind"] for p in report["problems"]}
    assert kinds == {"unverifiable"}, report["problems"]
    assert report["verified"] == 0


# ---- tampering ---------------------------------------------------------------

def tamper_cases(lines):
    """(name, new lines, expected (line, kind)) for each kind of change."""
    types = [json.loads(l)["type"] for l in lines]
    reqs = [i + 1 for i, t in enumerate(types) if t == "req"]
    cps = [i + 1 for i, t in enumerate(types) if t == "checkpoint"]
    # two neighbouring request lines well inside the file
    mid = next(i for i in reqs[len(reqs) // 3:] if i + 1 in reqs)
    cases = []

    edited = list(lines)
    edited[mid - 1] = edited[mid - 1].replace(b'"status":200',
                                              b'"status":403')
    cases.append(("edited", edited, (mid, "edited")))

    deleted = lines[:mid - 1] + lines[mid:]
    cases.append(("deleted", deleted, (mid, "deleted")))

    inserted = lines[:mid - 1] + [lines[reqs[0] - 1]] + lines[mid - 1:]
    cases.append(("inserted", inserted, (mid, "inserted")))

    reordered = list(lines)
    reordered[mid - 1], reordered[mid] = reordered[mid], reordered[mid - 1]
    cases.append(("reordered", reordered, (mid, "reordered")))

    # a checkpoint followed by at least 4 lines before the next one
    cut = next(a for a, b in zip(cps, cps[1:]) if b - a > 4)
    truncated = lines[:cut + 3]
    cases.append(("truncated", truncated, (cut + 1, "unverifiable")))

    bad = list(lines)
    rec = json.loads(bad[-1])
    sig = rec["jws"].split("..")[1]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    bad[-1] = bad[-1].replace(sig.encode(), flipped.encode())
    cases.append(("bad_signature", bad, (len(lines), "bad_signature")))
    return cases


def test_every_tampering_is_reported_at_its_line(nginx, tmp_path):
    srv = start(nginx)
    traffic(srv, 120)
    srv.stop()
    files = log_files(srv)
    rc, report = verify_json(files, BY_KEY)
    assert rc == 0, report["problems"]

    for original in files:
        lines = read_lines(original)
        assert len(lines) > 40, "enough lines in %s" % original
        for name, changed, (line, kind) in tamper_cases(lines):
            copy = tmp_path / ("%s.%s" % (name, original.name))
            write_lines(copy, changed)
            rc, report = verify_json([copy], BY_KEY)
            found = problems(report)
            assert rc == 1 and report["ok"] is False, name
            assert (copy.name, line, kind) in found, (name, found)
            # the one change, said once; a bad last checkpoint also leaves
            # the lines since the one before it unverifiable
            extra = {k for _, _, k in found} - {kind}
            assert extra <= ({"unverifiable"} if kind == "bad_signature"
                             else set()), (name, found)
            assert len([k for _, _, k in found if k == kind]) == 1, found

        # signed by a key the auditor does not trust
        rc, report = verify_json([original], ["--key", OTHER_PUB])
        cps = [i + 1 for i, l in enumerate(lines)
               if json.loads(l)["type"] == "checkpoint"]
        assert rc == 1
        assert {(original.name, n, "unknown_key") for n in cps} <= \
            problems(report)


def test_rechained_edit_fails_the_signatures(nginx, tmp_path):
    """An editor who knows the format mends every prev after the edit: the
    chain holds, but the next checkpoint signed the original head."""
    import hashlib
    srv = start(nginx)
    traffic(srv, 40)
    srv.stop()
    original = log_files(srv)[0]
    lines = read_lines(original)
    recs = [json.loads(l) for l in lines]
    target = next(i for i, r in enumerate(recs) if r["type"] == "req")
    recs[target]["uri"] = "/something/else"
    out = []
    for i, rec in enumerate(recs):
        if i > 0:
            rec["prev"] = hashlib.sha256(out[-1]).hexdigest()
            if rec["type"] == "checkpoint":
                rec["head"] = rec["prev"]
        out.append(json.dumps(rec, separators=(",", ":"),
                              ensure_ascii=False).encode())
    copy = tmp_path / "rechained"
    write_lines(copy, out)
    rc, report = verify_json([copy], BY_KEY)
    first_cp = next(i + 1 for i, r in enumerate(recs) if i > target
                    and r["type"] == "checkpoint")
    assert rc == 1
    assert ("rechained", first_cp, "bad_signature") in problems(report)


# ---- reload, rotation, crash ------------------------------------------------

def test_reload_and_rotation_keep_the_chains(nginx):
    srv = start(nginx)
    uris = traffic(srv, 20, "before")
    srv.reload()
    uris += traffic(srv, 20, "reloaded")
    flushed(srv, uris)

    # logrotate's way: rename, then USR1
    live = log_files(srv)
    for f in live:
        f.rename(f.with_name(f.name + ".1"))
    srv.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: all(f.exists() and read_lines(f) for f in live),
             what="the new files with their link records")
    uris += traffic(srv, 20, "rotated")
    srv.stop()

    rotated = [f.with_name(f.name + ".1") for f in live]
    keys = PUB.read_bytes()
    for old, new in zip(rotated, live):
        old_lines = check_chain(read_lines(old), keys)
        # the reload: the new worker went on after the old one's exit
        starts = [r for r in old_lines if r["type"] == "start"]
        assert [s["after"] for s in starts] == ["new", "exit"]
        assert old_lines[-1]["type"] == "checkpoint"
        assert old_lines[-1]["reason"] == "rotate"
        new_lines = read_lines(new)
        link = json.loads(new_lines[0])
        assert link["type"] == "link"
        assert link["seq"] == old_lines[-1]["seq"] + 1
        import hashlib
        assert link["prev"] == hashlib.sha256(
            read_lines(old)[-1]).hexdigest()
        check_chain(new_lines, keys, first_prev=link["prev"])

    logged = {r["uri"] for r in all_records(rotated + live)}
    assert set(uris) <= logged
    # given in any order, the files of each chain are linked
    rc, report = verify_json(list(reversed(rotated + live)), BY_KEY)
    assert rc == 0, report["problems"]

    # a missing middle file shows as deleted lines between the other two
    rc, report = verify_json([rotated[0], live[0]], BY_KEY)
    assert rc == 0
    shutil.copy(live[0], live[0].with_name("gap"))
    lines = read_lines(live[0])
    write_lines(live[0], lines[:1] + lines[4:])
    rc, report = verify_json([rotated[0], live[0]], BY_KEY)
    assert rc == 1 and (live[0].name, 2, "deleted") in problems(report)


def test_killed_worker_leaves_a_reported_break(nginx):
    srv = start(nginx)
    uris = traffic(srv, 20, "before")
    flushed(srv, uris)
    victim = min(srv.workers())
    srv.allow_log(r"worker process %d exited on signal 9" % victim)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in srv.workers()
             and len(srv.workers()) == 2, what="the worker's respawn")
    traffic(srv, 20, "after")
    srv.stop()

    files = log_files(srv)
    mine = next(f for f in files
                if json.loads(read_lines(f)[0])["pid"] == victim)
    lines = read_lines(mine)
    breaks = [i + 1 for i, l in enumerate(lines)
              if json.loads(l)["type"] == "break"]
    assert len(breaks) == 1
    brk = json.loads(lines[breaks[0] - 1])
    assert brk["last_seq"] == brk["seq"] - 1
    check_chain(lines, PUB.read_bytes())

    rc, report = verify_json(files, BY_KEY)
    assert rc == 1 and report["ok"] is False, "a crash is not a clean log"
    found = problems(report)
    assert (mine.name, breaks[0], "break") in found
    # only the killed worker's file, only the break and its unsigned tail
    assert {f for f, _, _ in found} == {mine.name}
    assert {k for _, _, k in found} <= {"break", "unverifiable"}


# ---- show ------------------------------------------------------------------

def test_show_prints_the_verified_records_that_match(nginx, tmp_path):
    srv = start(nginx)
    for party, agreement in [("EU.EORI.A", "urn:agr:1"),
                             ("EU.EORI.B", "urn:agr:1"),
                             ("EU.EORI.A", "urn:agr:2"),
                             ("EU.EORI.A", "urn:agr:1")]:
        requests.get(srv.url("/caller/x?agreement=" + agreement),
                     headers={"X-Test-Party": party}, timeout=10)
    traffic(srv, 5)
    srv.stop()
    files = log_files(srv)

    rc, out, err = mim_audit("show", *BY_KEY, "--party", "EU.EORI.A",
                             "--agreement", "urn:agr:1", "--json", *files)
    assert rc == 0, err
    shown = [json.loads(l) for l in out.splitlines()]
    assert len(shown) == 2
    assert all(r["party"] == "EU.EORI.A" and r["agreement"] == "urn:agr:1"
               for r in shown)
    assert "2 records shown" in err

    times = sorted(r["time"] for r in all_records(files))
    rc, out, _ = mim_audit("show", *BY_KEY, "--from", times[-1], "--to",
                           times[-1], "--json", *files)
    assert rc == 0
    assert [json.loads(l)["time"] for l in out.splitlines()] == \
        [t for t in times if t == times[-1]]
    rc, out, _ = mim_audit("show", *BY_KEY, "--to", "2000-01-01", *files)
    assert rc == 0 and out == ""

    # an edited record is not shown, and the exit status says why
    f = next(f for f in files
             if any(r["party"] == "EU.EORI.B" for r in records(f)))
    lines = read_lines(f)
    n = next(i for i, l in enumerate(lines) if b"EU.EORI.B" in l)
    lines[n] = lines[n].replace(b"EU.EORI.B", b"EU.EORI.C")
    copy = tmp_path / "edited"
    write_lines(copy, lines)
    rc, out, err = mim_audit("show", *BY_KEY, "--party", "EU.EORI.C", copy)
    assert rc == 1 and out == ""
    assert "1 matching record not shown: not verified" in err


# ---- configuration -----------------------------------------------------------

def test_nginx_t_refuses_bad_audit_configurations(nginx_check, tmp_path):
    signing = "mim_signing_key %s;" % KEY
    rc, out = nginx_check("audit-minimal", SIGNING="",
                          AUDIT_PATH=tmp_path / "a.log", AUDIT_OPTIONS="")
    assert rc != 0 and "requires mim_signing_key" in out, out
    rc, out = nginx_check("audit-minimal", SIGNING=signing,
                          AUDIT_PATH=tmp_path / "nowhere" / "a.log",
                          AUDIT_OPTIONS="")
    assert rc != 0 and "no directory" in out, out
    for bad in ("checkpoint=0", "interval=soon", "fsync=maybe", "buffer=1"):
        rc, out = nginx_check("audit-minimal", SIGNING=signing,
                              AUDIT_PATH=tmp_path / "a.log",
                              AUDIT_OPTIONS=bad)
        assert rc != 0 and 'invalid parameter "%s"' % bad in out, out
    rc, out = nginx_check("audit-minimal", SIGNING=signing,
                          AUDIT_PATH=tmp_path / "a.log",
                          AUDIT_OPTIONS="checkpoint=5 fsync=on")
    assert rc == 0, out
