"""mimtest - the integration test harness of mim-gateway.

Real components only: the Debian nginx binary with build/ngx_mim_module.so
loaded, the Debian redis-server, and independent checks written with
python3-jwcrypto / python3-cryptography / hashlib.  See t/README.md.

    paths    where things are (repo root, build dir, module, dev certs)
    net      free_port(), wait_for_port()
    redis    RedisServer: a private redis-server and a tiny RESP client
    nginx    render_config(), NginxServer, nginx_check()
    http     request(): raw-socket HTTP/1.x client that returns trailers;
             curl(): HTTP/2 (and anything else curl speaks) via the curl tool
    sign     verify_signed_response() and its parts
"""

from .net import free_port, wait_for_port  # noqa: F401
from .http import Headers, Response, request, curl  # noqa: F401
from .sign import (  # noqa: F401
    SignatureError, verify_signed_response, verify_response,
    check_content_digest, verify_detached_jws, content_digest, load_keys)
from . import paths  # noqa: F401

__all__ = ["free_port", "wait_for_port", "Headers", "Response", "request",
           "curl", "SignatureError", "verify_signed_response",
           "verify_response", "check_content_digest", "verify_detached_jws",
           "content_digest", "load_keys", "paths"]
