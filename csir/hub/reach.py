"""Fail fast when the Hub endpoint cannot be reached at all.

huggingface_hub retries a refused connection for ~25 s, logging a warning per attempt, before `datasets`
turns it into a ConnectionError. One TCP connect to the endpoint first gives the user one line at once.
Skipped in offline mode and behind a proxy (the proxy, not the endpoint, is what we would have to reach).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from csir.errors import CsirError
from csir.hub.resolve import hub_endpoint

PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def require_reachable(endpoint: str | None = None, timeout: float = 10.0) -> None:
    """CsirError 'cannot reach <endpoint>: ...' when no TCP connection to the endpoint can be opened."""
    endpoint = endpoint or hub_endpoint()
    if os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE") or any(
            os.environ.get(v) for v in PROXY_VARS):
        return
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise CsirError(f"HF_ENDPOINT: {endpoint!r} is not a URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise CsirError(f"cannot reach {parts.scheme}://{parts.netloc}: {type(exc).__name__}: "
                        f"{exc.strerror or exc}") from None
