"""Checks on a user-provided LiteLLM master key, run on the decrypted config value before any
resource exists. The key itself never leaves this function: problems name the rule, not the value."""
from __future__ import annotations

import hashlib

#: The proxy refuses these at boot (litellm/proxy/auth/master_key_boot_check.py, 1.109.1: the
#: SHA-256 of the documented example key "sk-1234").
PUBLICLY_KNOWN_SHA256 = frozenset({"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"})
MIN_LENGTH = 32
MIN_DISTINCT_CHARS = 10


def master_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak for a gateway master key, or None when it is fine.

    The proxy itself only refuses empty, unset and publicly known keys; Strait also wants the
    ``sk-`` prefix (the proxy treats any other bearer token as malformed, 401) and enough length
    and variety that it cannot be guessed.
    """
    if hashlib.sha256(key.encode()).hexdigest() in PUBLICLY_KNOWN_SHA256:
        return "is LiteLLM's publicly known example key"
    if not key.startswith("sk-"):
        return "does not start with 'sk-', so the proxy would reject it as a malformed key"
    if len(key) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if len(set(key[3:])) < MIN_DISTINCT_CHARS:
        return f"uses fewer than {MIN_DISTINCT_CHARS} distinct characters after 'sk-'"
    return None
