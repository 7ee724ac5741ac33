"""Fail-fast reachability of the Hugging Face hub.

Without this, hub clients retry for tens of seconds before giving up on a machine without internet.
One short TCP probe tells a user within seconds, with a way out.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from stancebench.errors import UserError

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """(reachable, reason) for the configured hub endpoint; honours HF_HUB_OFFLINE."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False, "HF_HUB_OFFLINE is set"
    url = urlparse(hub_endpoint())
    host = url.hostname or ""
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return False, f"HF_ENDPOINT {hub_endpoint()!r} has an invalid port"
    if not host:
        return False, f"HF_ENDPOINT {hub_endpoint()!r} is not a URL like https://huggingface.co"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"cannot connect to {host}:{port} ({exc.__class__.__name__}: {exc})"


def require_hub(timeout: float = 3.0, what: str = "this command",
                way_out: str = "check the network or HF_ENDPOINT, or use a local path instead of a hub id") -> str:
    """Return the hub endpoint, or raise a one-line UserError (ending with ``way_out``) when it cannot be reached."""
    ok, reason = hub_reachable(timeout)
    if not ok:
        raise UserError(f"the Hugging Face hub at {hub_endpoint()} is unreachable for {what}: {reason}; {way_out}")
    return hub_endpoint()
