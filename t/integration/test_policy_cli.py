"""`mim policy eval|check` end to end (docs/policies.md): the example
policies in policies/, requests written here, the exit statuses and the
printed JSON; and the DSP-form examples checked against the DSP 2025-1
JSON Schemas (shared/tools/dsp_validate.py, python3-jsonschema).

Run with /usr/bin/python3 -m pytest; the tool is $MIM_BUILD/mim or
../../build/mim relative to this file.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POLICIES = ROOT / "policies"
MIM = Path(os.environ.get("MIM_BUILD", ROOT / "build")) / "mim"
DSP_TOOLS = Path(os.environ.get("MIM_DSP_TOOLS",
                                ROOT.parent / "shared" / "tools"))
DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DPV = "https://w3id.org/dpv#"

EXAMPLES = {
    "read-only.jsonld": ("Set", "urn:mim:policy:read-only"),
    "business-hours.jsonld": ("Set", "urn:mim:policy:business-hours"),
    "purpose-research.jsonld": ("Set", "urn:mim:policy:purpose-research"),
    "dsp-offer.jsonld": ("Offer",
                         "urn:uuid:0f3e7a52-5d1c-4c1e-9c55-6f1a8d2b3c40"),
    "dsp-agreement.jsonld": ("Agreement",
                             "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12"),
}


def mim(*args, stdin=None):
    if not MIM.is_file():
        pytest.fail("%s does not exist: run make first" % MIM, pytrace=False)
    return subprocess.run([str(MIM), "policy"] + [str(a) for a in args],
                          input=stdin, capture_output=True, text=True,
                          timeout=30)


def evaluate(tmp_path, policy, request):
    """(exit status, printed object) of `mim policy eval`."""
    req = tmp_path / "request.json"
    req.write_text(json.dumps(request))
    proc = mim("eval", policy, req)
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert list(out) == ["decision", "rule", "reasons"]
    assert all(isinstance(r, str) for r in out["reasons"])
    assert out["decision"] == ("permit" if proc.returncode == 0 else "deny")
    return proc.returncode, out


# ---- check ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_check_examples(name):
    kind, uid = EXAMPLES[name]
    proc = mim("check", "--strict", POLICIES / name)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("%s: ok: %s %s, " % (POLICIES / name, kind, uid))
    assert first.endswith(", 0 warnings")


def test_every_example_is_listed():
    assert sorted(p.name for p in POLICIES.glob("*.jsonld")) \
        == sorted(EXAMPLES)


def test_check_several_and_warnings(tmp_path):
    warn = tmp_path / "partner.jsonld"
    warn.write_text(json.dumps({
        "@context": DSP_CONTEXT, "@type": "Offer", "@id": "urn:o",
        "permission": [{"action": "use", "constraint": [
            {"leftOperand": "partner", "operator": "eq",
             "rightOperand": "gold"}]}]}))
    proc = mim("check", POLICIES / "read-only.jsonld", warn)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "%s: ok: Set urn:mim:policy:read-only, 1 rule, 0 constraints, "
        "0 warnings" % (POLICIES / "read-only.jsonld"),
        "%s: ok: Offer urn:o, 1 rule, 1 constraint, 1 warning" % warn,
        "%s: warning: permission[0].constraint[0]: unknown left operand "
        "\"partner\": the constraint never holds" % warn,
    ]
    assert mim("check", "--strict", warn).returncode == 1


def test_check_invalid_names_the_member(tmp_path):
    bad = tmp_path / "bad.jsonld"
    bad.write_text(json.dumps({"@type": "Set", "permission": [
        {"action": "read"},
        {"action": "read", "constraint": [
            {"leftOperand": "dateTime", "operator": "lteq",
             "rightOperand": "end of 2026"}]}]}))
    proc = mim("check", bad)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "mim: policy: %s: permission[1].constraint[0].rightOperand: \"end of "
        "2026\" is not an xsd:dateTime or xsd:date\n" % bad)

    bad.write_text('{"permission": [\n  {"action": "read"}\n  {"x": 1}]}')
    proc = mim("check", bad)
    assert proc.returncode == 2
    assert "%s: line 3, column 3: " % bad in proc.stderr

    # a valid file after an invalid one is still checked
    proc = mim("check", bad, POLICIES / "read-only.jsonld")
    assert proc.returncode == 2
    assert ": ok: Set urn:mim:policy:read-only" in proc.stdout

    proc = mim("check", tmp_path / "missing.jsonld")
    assert proc.returncode == 2
    assert "No such file or directory" in proc.stderr


# ---- eval: the examples -----------------------------------------------------

ENTITIES = "urn:mim:test:entities"


def test_read_only(tmp_path):
    policy = POLICIES / "read-only.jsonld"
    rc, out = evaluate(tmp_path, policy, {"action": "read",
                                          "target": ENTITIES})
    assert rc == 0
    assert out == {"decision": "permit",
                   "rule": "urn:mim:policy:read-only:read",
                   "reasons": ["permission[0] (urn:mim:policy:read-only:"
                               "read): grants read on " + ENTITIES]}
    # the gateway's methods: POST/PUT/PATCH -> modify, DELETE -> delete
    for action in ("modify", "delete", "use"):
        rc, out = evaluate(tmp_path, policy, {"action": action,
                                              "target": ENTITIES})
        assert rc == 1
        assert out["rule"] is None
        assert out["reasons"] == ["no permission for action %s on target "
                                  "%s" % (action, ENTITIES)]
    rc, out = evaluate(tmp_path, policy, {"action": "read",
                                          "target": "urn:other"})
    assert rc == 1
    assert out["reasons"][0] == ("permission[0] (urn:mim:policy:read-only:"
                                 "read): target is %s, not urn:other"
                                 % ENTITIES)


@pytest.mark.parametrize("when, decision", [
    ("2026-05-04T09:00:00+02:00", "permit"),    # Monday, opening
    ("2026-05-04T08:59:59+02:00", "deny"),
    ("2026-05-06T16:59:59+02:00", "permit"),    # Wednesday
    ("2026-05-06T17:00:00+02:00", "deny"),      # closing: lt
    ("2026-05-08T15:00:00Z", "deny"),           # Friday 17:00 in Madrid
    ("2026-05-08T14:59:59Z", "permit"),
    ("2026-05-09T10:00:00+02:00", "deny"),      # Saturday
    ("2027-05-04T10:00:00+02:00", "deny"),      # another year
])
def test_business_hours(tmp_path, when, decision):
    rc, out = evaluate(tmp_path, POLICIES / "business-hours.jsonld",
                       {"action": "read", "target": ENTITIES,
                        "dateTime": when})
    assert out["decision"] == decision, out
    if decision == "deny":
        assert out["reasons"][0].startswith(
            "permission[0] (urn:mim:policy:business-hours:read): constraint "
            "or failed: none of its 5 constraints holds (first: ")


def test_business_hours_prohibits_delete(tmp_path):
    rc, out = evaluate(tmp_path, POLICIES / "business-hours.jsonld",
                       {"action": "delete", "target": ENTITIES,
                        "dateTime": "2026-05-05T10:00:00+02:00"})
    assert rc == 1
    assert out["rule"] == "urn:mim:policy:business-hours:no-delete"


def test_business_hours_without_a_time(tmp_path):
    rc, out = evaluate(tmp_path, POLICIES / "business-hours.jsonld",
                       {"action": "read", "target": ENTITIES})
    assert rc == 1
    assert out["reasons"] == [
        "permission[0] (urn:mim:policy:business-hours:read): constraint or "
        "failed: none of its 5 constraints holds (first: constraint dateTime "
        "gteq 2026-05-04T09:00:00+02:00 failed: no dateTime in the request)",
        "no permission grants read on " + ENTITIES]


@pytest.mark.parametrize("purposes, address, decision, rule", [
    ([DPV + "ServiceProvision"], "10.1.2.3", "permit",
     "urn:mim:policy:purpose-research:read"),
    ([DPV + "ResearchAndDevelopment"], "127.0.0.1", "permit",
     "urn:mim:policy:purpose-research:read"),
    ([DPV + "ResearchAndDevelopment"], "::1", "permit",
     "urn:mim:policy:purpose-research:read"),
    ([DPV + "ServiceProvision"], "192.168.1.10", "deny", None),
    ([DPV + "Education"], "10.1.2.3", "deny", None),
    # every declared purpose must be allowed
    ([DPV + "ServiceProvision", DPV + "Education"], "10.1.2.3", "deny",
     None),
    # marketing is prohibited, whatever else is declared
    ([DPV + "Marketing"], "10.1.2.3", "deny",
     "urn:mim:policy:purpose-research:no-marketing"),
    ([], "10.1.2.3", "deny", None),
])
def test_purpose_research(tmp_path, purposes, address, decision, rule):
    request = {"action": "read", "target": ENTITIES,
               "virtualLocation": address}
    if purposes:
        request["purpose"] = purposes
    rc, out = evaluate(tmp_path, POLICIES / "purpose-research.jsonld",
                       request)
    assert out["decision"] == decision, out
    assert out["rule"] == rule
    if not purposes:
        assert out["reasons"][0].endswith("failed: no purpose declared")


def test_dsp_offer(tmp_path):
    policy = POLICIES / "dsp-offer.jsonld"
    base = {"target": "urn:any-dataset", "dateTime": "2026-06-01T00:00:00Z",
            "purpose": DPV + "ResearchAndDevelopment"}
    # an offer in a dataset's hasPolicy has no target: any target
    for action in ("use", "read", "modify", "display"):
        rc, out = evaluate(tmp_path, policy, dict(base, action=action))
        assert rc == 0, (action, out)
        assert out["rule"] is None              # DSP rules carry no @id
    # distribute is under use, and prohibited: conflict "invalid" voids
    rc, out = evaluate(tmp_path, policy, dict(base, action="distribute"))
    assert rc == 1
    assert out["reasons"][-1] == ("conflict strategy invalid: a permission "
                                  "and a prohibition both apply, the policy "
                                  "is void")
    # sell is under transfer, which the offer does not grant
    rc, out = evaluate(tmp_path, policy, dict(base, action="sell"))
    assert rc == 1
    assert out["reasons"] == ["no permission for action sell on target "
                              "urn:any-dataset"]
    rc, out = evaluate(tmp_path, policy,
                       dict(base, action="read",
                            dateTime="2027-01-01T00:00:00Z"))
    assert rc == 1
    assert out["reasons"][0] == (
        "permission[0]: constraint dateTime lteq 2026-12-31T23:59:59Z "
        "failed: dateTime is 2027-01-01T00:00:00Z")


AGREEMENT_TARGET = "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88"
CONSUMER = "did:web:consumer.example"


@pytest.mark.parametrize("extra, decision, reason", [
    ({"dateTime": "2026-02-01T00:00:00Z", "count": 1}, "permit", None),
    ({"dateTime": "2026-04-15T08:00:00Z", "count": 1000}, "permit", None),
    # the timestamp is 2026-01-15T08:00:00Z: elapsedTime lteq P90D
    ({"dateTime": "2026-04-15T08:00:01Z", "count": 1}, "deny",
     "permission[0]: constraint elapsedTime lteq P90D failed: elapsedTime "
     "is P90DT1S"),
    ({"elapsedTime": "P89D", "count": 1001}, "deny",
     "permission[0]: constraint count lteq 1000 failed: count is 1001"),
    ({"elapsedTime": "P1D"}, "deny",
     "permission[0]: constraint count lteq 1000 failed: no count in the "
     "request"),
    ({"count": 1}, "deny",
     "permission[0]: constraint elapsedTime lteq P90D failed: no "
     "elapsedTime in the request"),
])
def test_dsp_agreement(tmp_path, extra, decision, reason):
    request = dict({"action": "read", "target": AGREEMENT_TARGET,
                    "assignee": CONSUMER}, **extra)
    rc, out = evaluate(tmp_path, POLICIES / "dsp-agreement.jsonld", request)
    assert out["decision"] == decision, out
    if reason is not None:
        assert out["reasons"][0] == reason


def test_dsp_agreement_binds_assignee_and_target(tmp_path):
    policy = POLICIES / "dsp-agreement.jsonld"
    ok = {"action": "read", "target": AGREEMENT_TARGET, "assignee": CONSUMER,
          "elapsedTime": "PT1H", "count": 1}
    assert evaluate(tmp_path, policy, ok)[0] == 0
    rc, out = evaluate(tmp_path, policy,
                       dict(ok, assignee="did:web:other.example"))
    assert rc == 1
    assert out["reasons"][0] == ("permission[0]: assignee is %s, not "
                                 "did:web:other.example" % CONSUMER)
    rc, out = evaluate(tmp_path, policy, dict(ok, target="urn:uuid:other"))
    assert rc == 1
    del ok["assignee"]
    rc, out = evaluate(tmp_path, policy, ok)
    assert rc == 1
    assert out["reasons"][0] == ("permission[0]: assignee is %s; the request "
                                 "names none" % CONSUMER)
    # modify: permitted (use) and prohibited: the policy is void
    rc, out = evaluate(tmp_path, policy,
                       dict(ok, action="modify", assignee=CONSUMER))
    assert rc == 1
    assert out["reasons"][1] == ("prohibition[0]: prohibits modify on "
                                 + AGREEMENT_TARGET)


# ---- eval: forms, claims, bad input -----------------------------------------

def test_spellings_give_the_same_decision(tmp_path):
    compact = {"@context": "http://www.w3.org/ns/odrl.jsonld",
               "@type": "Set", "uid": "urn:p",
               "permission": [{"target": "urn:t", "action": "use",
                               "constraint": [{"leftOperand": "count",
                                               "operator": "lt",
                                               "rightOperand": 5}]}]}
    odrl = "http://www.w3.org/ns/odrl/2/"
    full = {"@type": odrl + "Set", "@id": "urn:p",
            odrl + "permission": [{
                odrl + "target": {"@id": "urn:t"},
                odrl + "action": {"@id": odrl + "use"},
                odrl + "constraint": [{
                    odrl + "leftOperand": {"@id": odrl + "count"},
                    odrl + "operator": {"@id": "odrl:lt"},
                    odrl + "rightOperand": {
                        "@value": "5",
                        "@type": "http://www.w3.org/2001/XMLSchema#integer"},
                }]}]}
    results = []
    for i, doc in enumerate((compact, full)):
        path = tmp_path / ("p%d.jsonld" % i)
        path.write_text(json.dumps(doc))
        for count in (4, 5):
            for action in ("read", "odrl:read", odrl + "read", "transfer"):
                rc, out = evaluate(tmp_path, path,
                                   {"action": action, "target": "urn:t",
                                    "count": count})
                results.append((i, count, action, out["decision"]))
    for i, count, action, decision in results:
        expect = "permit" if count == 4 and action != "transfer" else "deny"
        assert decision == expect, (i, count, action)


def test_claims_in_the_request(tmp_path):
    policy = tmp_path / "claims.jsonld"
    policy.write_text(json.dumps({
        "@type": "Set", "permission": [{"action": "read", "constraint": [
            {"leftOperand": "urn:mim:claim:role", "operator": "isAnyOf",
             "rightOperand": ["operator", "auditor"]},
            {"leftOperand": "urn:mim:claim:level", "operator": "gteq",
             "rightOperand": 3}]}]}))
    cases = [({"role": ["viewer", "operator"], "level": 3}, 0),
             ({"role": "auditor", "level": "4"}, 0),
             ({"role": "viewer", "level": 9}, 1),
             ({"role": "operator", "level": 2}, 1),
             ({"role": "operator"}, 1),
             ({"role": "operator", "level": True}, 1)]
    for claims, status in cases:
        rc, out = evaluate(tmp_path, policy,
                           {"action": "read", "claims": claims})
        assert rc == status, (claims, out)


def test_reasons_are_json_whatever_the_request(tmp_path):
    target = "urn:\u00e9\u4e2d\U0001f600 \"quoted\" \\ \t\n"
    rc, out = evaluate(tmp_path, POLICIES / "read-only.jsonld",
                       {"action": "read", "target": target})
    assert rc == 1
    assert out["reasons"][0] == ("permission[0] (urn:mim:policy:read-only:"
                                 "read): target is %s, not %s"
                                 % (ENTITIES, target))


@pytest.mark.parametrize("request_text, message", [
    ('{"target": "urn:t"}', '"action" (a string) is required'),
    ('{"action": "read", "purpse": "x"}', 'unknown member "purpse"'),
    ('{"action": "read", "dateTime": "tomorrow"}',
     '"dateTime" must be an xsd:dateTime ("2026-05-01T10:00:00Z")'),
    ('{"action": "read", "elapsedTime": 60}',
     '"elapsedTime" must be an xsd:duration ("PT2H")'),
    ('{"action": "read", "count": -1}', '"count" must be an integer >= 0'),
    ('{"action": "read", "purpose": [1]}',
     '"purpose" must be a string or an array of strings'),
    ('{"action": "read", "claims": {"role": {"x": 1}}}',
     'claim "role": expected a string, a number, a boolean or an array of '
     'them'),
    ('{"action": "read",', 'line 1, column 18: '),
    ('[]', 'a request must be a JSON object'),
])
def test_bad_requests(tmp_path, request_text, message):
    req = tmp_path / "request.json"
    req.write_text(request_text)
    proc = mim("eval", POLICIES / "read-only.jsonld", req)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("mim: policy: %s: %s" % (req, message)), \
        proc.stderr


def test_request_on_stdin(tmp_path):
    proc = mim("eval", POLICIES / "read-only.jsonld", "-",
               stdin=json.dumps({"action": "read", "target": ENTITIES}))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["decision"] == "permit"


def test_usage():
    assert mim().returncode == 2
    assert mim("eval", POLICIES / "read-only.jsonld").returncode == 2
    assert mim("frobnicate", "x").returncode == 2
    proc = mim("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage:\n  mim policy eval POLICY.jsonld "
                                  "REQUEST.json\n")


# ---- the DSP-form examples against the DSP 2025-1 schemas -------------------

@pytest.fixture(scope="module")
def dsp_validate():
    if not (DSP_TOOLS / "dsp_validate.py").is_file():
        pytest.fail("%s/dsp_validate.py not found (set MIM_DSP_TOOLS to the "
                    "shared/tools directory)" % DSP_TOOLS, pytrace=False)
    sys.path.insert(0, str(DSP_TOOLS))
    try:
        import dsp_validate as module
    except ImportError as exc:
        pytest.fail("dsp_validate: %s (apt-get install python3-jsonschema)"
                    % exc, pytrace=False)
    finally:
        sys.path.pop(0)
    return module.validate


def without_context(doc):
    return {k: v for k, v in doc.items() if k != "@context"}


def test_dsp_offer_is_a_dataset_offer(dsp_validate):
    offer = json.loads((POLICIES / "dsp-offer.jsonld").read_text())
    assert offer["@context"] == [DSP_CONTEXT]
    dataset = {
        "@context": [DSP_CONTEXT], "@type": "Dataset",
        "@id": "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88",
        "hasPolicy": [without_context(offer)],
        "distribution": [{"@type": "Distribution", "format": "HttpData-PULL",
                          "accessService": {
                              "@id": "urn:uuid:service", "@type":
                              "DataService",
                              "endpointURL": "https://city.example/"}}]}
    assert dsp_validate(dataset) == []
    # in a request message the offer names its target
    message = {"@context": [DSP_CONTEXT], "@type": "ContractRequestMessage",
               "consumerPid": "urn:uuid:consumer",
               "callbackAddress": "https://consumer.example/callback",
               "offer": dict(without_context(offer),
                             target="urn:uuid:3dd1add8-4d2d-569e-d634-"
                                    "8394a8836a88")}
    assert dsp_validate(message) == []


def test_dsp_agreement_is_an_agreement(dsp_validate, tmp_path):
    agreement = json.loads((POLICIES / "dsp-agreement.jsonld").read_text())
    message = {"@context": [DSP_CONTEXT], "@type": "ContractAgreementMessage",
               "providerPid": "urn:uuid:provider",
               "consumerPid": "urn:uuid:consumer",
               "agreement": without_context(agreement)}
    assert dsp_validate(message) == []
    # and the engine reads the agreement inside the message too
    path = tmp_path / "message.json"
    path.write_text(json.dumps(message))
    proc = mim("check", "--strict", path)
    assert proc.returncode == 0, proc.stderr
    assert ": ok: Agreement %s, 2 rules, 2 constraints" % agreement["@id"] \
        in proc.stdout
