"""What must never reach a tracking store: secrets in params, tags, configs and command lines."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from stancebench.paths import PROJECT_ROOT

SECRET_KEY = re.compile(r"(token|secret|password|passwd|api[_-]?key|credential|auth)", re.IGNORECASE)


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """Nested config to ``{"a.b.c": value}``; lists stay whole (as their string form)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _env_secrets() -> list[str]:
    """Values of environment variables whose name looks secret (8+ characters), longest first."""
    return sorted({v for k, v in os.environ.items() if SECRET_KEY.search(k) and len(v) >= 8}, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every occurrence of an environment secret replaced by ``[redacted]``."""
    for secret in _env_secrets() if secrets is None else secrets:
        text = text.replace(secret, "[redacted]")
    return text


def redact(obj: Any, secrets: list[str] | None = None) -> Any:
    """Params, tags or a whole config (nested dicts and lists) with nothing secret left in them.

    A value whose key looks like a secret is blanked; environment secrets are scrubbed out of every
    string, including inside longer values (a URL with a token in it).
    """
    secrets = _env_secrets() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: "[redacted]" if SECRET_KEY.search(str(k)) else redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v, secrets) for v in obj]
    if isinstance(obj, str):
        return scrub(obj, secrets)
    return obj


def redact_override(override: str) -> str:
    """A command-line override ``key=value`` with a secret-looking key or an environment secret hidden."""
    key, sep, value = override.partition("=")
    if sep and SECRET_KEY.search(key):
        return f"{key}=[redacted]"
    return scrub(override)


def git_state(root: Path = PROJECT_ROOT) -> tuple[str, bool | None]:
    """(commit, dirty) of the project checkout; ("unknown", None) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None

