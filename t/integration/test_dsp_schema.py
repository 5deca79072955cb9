"""`mim dsp validate` (tools/mim_dsp_validate.c, dsp/mim_dsp_schema.c) and
the official validator (shared/tools/dsp_validate.py, python3-jsonschema)
judge DSP 2025-1 messages alike: every spec example, and a few thousand
deterministic mutations of them (a member dropped, a value of another type,
an emptied array or object, a string changed so a const, an enum or a
pattern fails, another @type, what a oneOf or a not refuses).

Also: the schemas built into mim (dsp/mim_dsp_schemas.c) are those of the
spec (tools/gen-dsp-schemas.py regenerates the same file), and the command
line: usage, exit statuses, stdin.

Run with /usr/bin/python3 -m pytest; the tool is $MIM_BUILD/mim or
../../build/mim relative to this file; the spec and the reference tool are
beside the repository ($MIM_DSP_TOOLS overrides the tools directory).
"""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MIM = Path(os.environ.get("MIM_BUILD", ROOT / "build")) / "mim"
DSP_TOOLS = Path(os.environ.get("MIM_DSP_TOOLS",
                                ROOT.parent / "shared" / "tools"))
SPEC = DSP_TOOLS.parent / "spec" / "dsp-2025-1"
GENERATOR = ROOT / "tools" / "gen-dsp-schemas.py"
CHECKED_IN = ROOT / "dsp" / "mim_dsp_schemas.c"
PYTHON = "/usr/bin/python3"

CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DROP = object()


@pytest.fixture(scope="module")
def reference():
    """shared/tools/dsp_validate.py, imported"""
    if not (DSP_TOOLS / "dsp_validate.py").is_file():
        pytest.fail("%s/dsp_validate.py is missing" % DSP_TOOLS,
                    pytrace=False)
    sys.path.insert(0, str(DSP_TOOLS))
    try:
        import dsp_validate
    finally:
        sys.path.remove(str(DSP_TOOLS))
    return dsp_validate


def mim(*args, stdin=None):
    if not MIM.is_file():
        pytest.fail("%s does not exist: run make first" % MIM, pytrace=False)
    return subprocess.run([str(MIM), "dsp"] + [str(a) for a in args],
                          input=stdin, capture_output=True, text=True,
                          timeout=120)


def examples():
    return sorted(SPEC.glob("*/example/*.json"))


def type_option(path):
    """what both tools are told: DID service entries have "type", not
    "@type"; anything else goes by its @type (or is a VersionResponse)"""
    return "DidService" if "did-service" in path.name else None


# ---- mutations -------------------------------------------------------------

def walk(v, path=()):
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, path + (i,))


def replaced(doc, path, new):
    d = copy.deepcopy(doc)
    parent = d
    for step in path[:-1]:
        parent = parent[step]
    if new is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return d


def added(doc, path, key, value):
    d = copy.deepcopy(doc)
    target = d
    for step in path:
        target = target[step]
    target[key] = value
    return d


OTHER_TYPES = ["CatalogRequestMessage", "ContractRequestMessage",
               "TransferStartMessage", "Offer", "Agreement", "Dataset",
               "Catalog", "DataService", "Nope"]


def retyped(v):
    """values of other JSON types than v's"""
    if isinstance(v, bool):
        return ["true", 1]
    if isinstance(v, (int, float)):
        return [str(v), None]
    if isinstance(v, str):
        return [42, [v]]
    if v is None:
        return ["null"]
    if isinstance(v, list):
        return [{"x": v}, "x"]
    return ["x", [v]]


def mutations(doc):
    """(label, document) pairs, in a fixed order"""
    for path, v in walk(doc):
        where = "/".join(map(str, path)) or "(root)"
        if path:
            yield "drop %s" % where, replaced(doc, path, DROP)
            for i, new in enumerate(retyped(v)):
                if path[-1] == "@type" and isinstance(new, list):
                    continue      # the reference tool cannot hash a list
                yield "retype%d %s" % (i, where), replaced(doc, path, new)
        if isinstance(v, list) and v:
            yield "empty %s" % where, replaced(doc, path, []) if path \
                else []
        if isinstance(v, dict) and path and v:
            yield "empty %s" % where, replaced(doc, path, {})
        if isinstance(v, str) and path:
            yield "suffix %s" % where, replaced(doc, path, v + "X")
            yield "empty-string %s" % where, replaced(doc, path, "")
            if v.lower() != v:
                yield "lower %s" % where, replaced(doc, path, v.lower())
            # pattern edges: Python's "$" and "." around newlines
            yield "newline %s" % where, replaced(doc, path, v + "\n")
            yield "newline2 %s" % where, replaced(doc, path, v + "\n\n")
            if "T" in v:
                yield "space-T %s" % where, replaced(doc, path,
                                                      v.replace("T", " "))
        if path and path[-1] == "@type":
            for t in OTHER_TYPES:
                if t != v:
                    yield "type %s %s" % (t, where), replaced(doc, path, t)
        if path and path[-1] == "@context":
            yield "context-string %s" % where, replaced(doc, path, CONTEXT)
            yield "context-other %s" % where, replaced(
                doc, path, ["https://example.com/ctx"])
        if isinstance(v, dict):
            # what oneOf and not look at
            for key, value in (("callbackAddress", "https://c.example/cb"),
                               ("providerPid", "urn:p"),
                               ("consumerPid", "urn:c"),
                               ("target", "urn:t"),
                               ("hasPolicy", []),
                               ("and", []), ("or", [])):
                if key not in v:
                    yield "add %s %s" % (key, where), added(doc, path, key,
                                                            value)


def all_cases():
    cases = []
    for path in examples():
        doc = json.loads(path.read_text())
        t = type_option(path)
        cases.append(("%s: as is" % path.name, t, doc))
        for label, d in mutations(doc):
            cases.append(("%s: %s" % (path.name, label), t, d))
    return cases


def reference_verdict(reference, t, doc):
    """dsp_validate.py's command line: --type, or @type, or
    VersionResponse"""
    if t is None and not (isinstance(doc, dict) and "@type" in doc):
        t = "VersionResponse"
    return not reference.validate(doc, t)


def mim_verdicts(tmp_path, cases):
    """{index: (valid, message)} from `mim dsp validate`, a few runs"""
    out = {}
    by_type = {}
    for i, (_, t, doc) in enumerate(cases):
        f = tmp_path / ("c%05d.json" % i)
        f.write_text(json.dumps(doc))
        by_type.setdefault(t, []).append((i, f))
    for t, files in by_type.items():
        for k in range(0, len(files), 400):
            chunk = files[k:k + 400]
            args = ["validate"] + (["--type", t] if t else []) \
                + [f for _, f in chunk]
            proc = mim(*args)
            assert proc.returncode in (0, 1), proc.stderr
            assert proc.stderr == ""
            lines = proc.stdout.splitlines()
            assert len(lines) == len(chunk), proc.stdout
            for (i, f), line in zip(chunk, lines):
                prefix = "%s: " % f
                assert line.startswith(prefix), line
                verdict = line[len(prefix):]
                assert verdict == "valid" or verdict.startswith("invalid: "), \
                    line
                out[i] = (verdict == "valid", verdict[len("invalid: "):])
    return out


# ---- the tests -------------------------------------------------------------

def test_examples_as_the_reference_command_line(tmp_path):
    """each example file, no --type, through both command lines"""
    files = examples()
    assert len(files) >= 27
    ref = subprocess.run([PYTHON, str(DSP_TOOLS / "dsp_validate.py")]
                         + [str(f) for f in files], capture_output=True,
                         text=True, timeout=120)
    ours = mim("validate", *files)
    want = {}
    for line in ref.stdout.splitlines():
        if not line.startswith(" "):
            name, verdict = line.rsplit(": ", 1)
            want[name] = verdict == "valid"
    got = {}
    for line in ours.stdout.splitlines():
        name, rest = line.split(": ", 1)
        got[name] = rest == "valid"
    assert got == want
    # the DID service entries have no @type: VersionResponses, invalid
    assert ours.returncode == 1 and ref.returncode == 1


def test_differential_against_the_reference(reference, tmp_path):
    cases = all_cases()
    assert len(cases) >= 1000, len(cases)
    ours = mim_verdicts(tmp_path, cases)
    disagree = []
    nvalid = 0
    for i, (label, t, doc) in enumerate(cases):
        want = reference_verdict(reference, t, doc)
        got, why = ours[i]
        nvalid += want
        if got != want:
            disagree.append("%s: reference %s, mim %s%s"
                            % (label, "valid" if want else "invalid",
                               "valid" if got else "invalid",
                               "" if got else " (%s)" % why))
        elif not got:
            # "PATH: rule", never empty
            assert ": " in why, (label, why)
    assert not disagree, "%d of %d disagree:\n  %s" % (
        len(disagree), len(cases), "\n  ".join(disagree[:20]))
    # both verdicts well represented
    assert nvalid >= len(cases) // 10
    assert len(cases) - nvalid >= len(cases) // 3


def test_generated_schemas_up_to_date(tmp_path):
    out = tmp_path / "mim_dsp_schemas.c"
    proc = subprocess.run([PYTHON, str(GENERATOR), "--spec", str(SPEC),
                           "-o", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == CHECKED_IN.read_bytes(), \
        "dsp/mim_dsp_schemas.c is not what tools/gen-dsp-schemas.py makes " \
        "of %s: run tools/gen-dsp-schemas.py" % SPEC
    text = out.read_text()
    assert "GENERATED by tools/gen-dsp-schemas.py" in text
    assert "Apache License, Version 2.0" in text
    schemas = sorted(SPEC.glob("*/*-schema.json"))
    assert len(schemas) == 26
    for s in schemas:
        assert '"%s",' % s.relative_to(SPEC).as_posix() in text


def test_messages_name_path_and_rule(tmp_path):
    msg = json.loads((SPEC / "transfer/example/transfer-start-message.json")
                     .read_text())
    del msg["dataAddress"]["endpointProperties"][0]["value"]
    f = tmp_path / "start.json"
    f.write_text(json.dumps(msg))
    proc = mim("validate", f)
    assert proc.returncode == 1
    assert proc.stdout == ("%s: invalid: dataAddress.endpointProperties[0]."
                           "value: required\n" % f)


def test_command_line(tmp_path):
    good = SPEC / "transfer/example/transfer-process.json"
    bad = tmp_path / "bad.json"
    bad.write_text('{"@context": ["%s"], "@type": "TransferProcess"}'
                   % CONTEXT)

    proc = mim("--help")
    assert proc.returncode == 0
    assert "mim dsp validate [--type TYPE] FILE..." in proc.stdout
    assert "ContractRequestMessage" in proc.stdout
    assert "VersionResponse" in proc.stdout
    assert mim("validate", "--help").returncode == 0

    for args in ([], ["validate"], ["check", good], ["validate", "--bogus",
                                                      good],
                 ["validate", "--type"]):
        proc = mim(*args)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        assert "mim dsp --help" in proc.stderr

    proc = mim("validate", "--type", "Nope", good)
    assert proc.returncode == 2
    assert "no DSP 2025-1 schema for type 'Nope'" in proc.stderr

    proc = mim("validate", good)
    assert (proc.returncode, proc.stdout) == (0, "%s: valid\n" % good)

    proc = mim("validate", good, bad)
    assert proc.returncode == 1
    assert proc.stdout == ("%s: valid\n%s: invalid: providerPid: required\n"
                           % (good, bad))

    # an unreadable file: exit 2, the others still judged
    proc = mim("validate", tmp_path / "missing.json", good)
    assert proc.returncode == 2
    assert proc.stdout == "%s: valid\n" % good
    assert "missing.json" in proc.stderr

    # --type, stdin
    proc = mim("validate", "--type", "TransferStartMessage", "-",
               stdin=good.read_text())
    assert proc.returncode == 1
    assert proc.stdout == ('-: invalid: @type: const: must be '
                           '"TransferStartMessage"\n')
    proc = mim("validate", "-", stdin="{not json")
    assert proc.returncode == 1
    assert proc.stdout.startswith("-: invalid: not JSON: line 1, column ")
    proc = mim("validate", "--type", "DidService",
               SPEC / "common/example/catalogservice-did-service.json")
    assert proc.returncode == 0
