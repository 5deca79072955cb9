"""`make demo`'s configuration (conf/demo.conf.in, rendered on free ports)
and its printed walkthrough (tools/demo-walkthrough.sh): the whole
contract flow with `mim consumer` against the gateway in front of the
sample broker, each denial included, must do what the walkthrough says."""

import os
import subprocess

import pytest

from mimtest import paths
from mimtest.http import request as http_request

DEMO = paths.ROOT / "conf" / "demo.conf.in"
WALKTHROUGH = paths.ROOT / "tools" / "demo-walkthrough.sh"


@pytest.fixture
def demo(nginx):
    return nginx(str(DEMO), REPO=paths.ROOT,
                 USER_LINE="user root;" if os.geteuid() == 0 else "")


def test_the_walkthrough_runs_as_printed(demo):
    env = dict(os.environ, MIM=str(paths.BUILD / "mim"))
    proc = subprocess.run([str(WALKTHROUGH), demo.url("").rstrip("/")],
                          env=env, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    (demo.prefix / "walkthrough.out").write_text(out)
    assert proc.returncode == 0, out
    assert "walkthrough done" in proc.stdout, out
    # the air quality agreement covers three attributes only
    assert '"NO2"' in out and '"PM10"' not in out, out
    demo.allow_log(r"mim agreement")


def test_open_data_is_signed_and_the_api_is_closed(demo):
    resp = http_request("GET", demo.url("/open/ngsi-ld/v1/entities"))
    assert resp.status == 200
    assert resp.headers.get("X-JWS-Signature"), resp.headers
    assert resp.headers.get("Content-Digest"), resp.headers

    resp = http_request("GET", demo.url("/ngsi-ld/v1/entities"))
    assert resp.status == 401, (resp.status, resp.body)
    assert resp.headers.get("X-JWS-Signature"), resp.headers
