"""Where the things under test live.  MIM_BUILD overrides the build dir."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BUILD = Path(os.environ.get("MIM_BUILD") or ROOT / "build").resolve()
MODULE = BUILD / "ngx_mim_module.so"
MIM_TOOL = BUILD / "mim"
CERTS = ROOT / "certs" / "dev"
CERTS_DONE = CERTS / ".complete"
MAKE_PKI = ROOT / "certs" / "make-dev-pki.sh"
CONF_TEMPLATES = ROOT / "conf" / "test"
BROKER_DATA = ROOT / "conf" / "broker"

NGINX = Path("/usr/sbin/nginx")
REDIS_SERVER = Path("/usr/bin/redis-server")
CURL = Path("/usr/bin/curl")
OPENSSL = Path("/usr/bin/openssl")
