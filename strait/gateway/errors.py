"""What a gateway client sees when a request fails: a clean, OpenAI-style error.

LiteLLM's own error text names its internals: the exception class of the provider adapter
(``Hosted_vllmException``, ``AnthropicException``), the upstream's raw body ("engine dead"), the
fallback chain it walked and the deployment's address. None of that helps a client, and some of it
(addresses, upstream stack details) should not leave the cluster. ``client_error`` maps a failure
to a status, a fixed message that names only what the client sent (the model), and the headers a
client acts on (``Retry-After``).

Pure and standard-library only, like strait_routing.py: the gateway pod runs this exact file,
shipped as ``strait_errors.py`` beside ``strait_hook.py``, which calls it from LiteLLM's
``async_post_call_failure_hook``. Unit-tested in tests/gateway/test_gateway_errors.py and end to
end against the real proxy in tests/gateway/test_gateway_faults.py.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

#: Words that mark text as LiteLLM's or an upstream's internals rather than a message for a client.
INTERNAL = re.compile(
    r"litellm|exception|traceback|hosted_vllm|api_base|os\.environ|https?://|\.svc\b|\.local\b|"
    r"\b\d{1,3}(?:\.\d{1,3}){3}\b|model group|fallback|deployment",
    re.IGNORECASE)
#: Longest upstream message passed through to a client (a 4xx about its own request).
MAX_MESSAGE_CHARS = 500
#: Longest Retry-After the gateway relays, as LiteLLM's own retry logic caps it (utils.calculate_retry_after).
MAX_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class ClientError:
    status: int
    type: str  # OpenAI's error.type
    message: str
    retry_after_seconds: Optional[int] = None
    headers: Dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> Dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": None, "code": str(self.status)}}


def retry_after_seconds(headers: Optional[Mapping[str, Any]]) -> Optional[int]:
    """Whole seconds from ``Retry-After`` (delta-seconds) or ``retry-after-ms``; None if absent or unusable.
    An HTTP-date Retry-After is not relayed (upstream LLM APIs send seconds)."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    for key, scale in (("retry-after", 1.0), ("retry-after-ms", 0.001)):
        raw = lower.get(key)
        if raw is None:
            continue
        try:
            seconds = float(str(raw).strip()) * scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(seconds)))
    return None


def upstream_message(text: Optional[str]) -> Optional[str]:
    """The upstream's own message inside LiteLLM's error text, if it is safe to show a client.

    LiteLLM wraps it as ``litellm.BadRequestError: Hosted_vllmException - {"message": ...}``; only
    the JSON's ``message`` (or ``error.message``) is kept, and only when it names no internals."""
    if not text:
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    msg = None
    if isinstance(obj, dict):
        err = obj.get("error")
        msg = err.get("message") if isinstance(err, dict) else obj.get("message")
        if msg is None and isinstance(err, str):
            msg = err
    if not isinstance(msg, str) or not msg.strip() or INTERNAL.search(msg):
        return None
    return msg.strip()[:MAX_MESSAGE_CHARS]


_WRAPPER = re.compile(r"^\s*(?:litellm\.\w+:\s*|\w+Error:\s*|\w+Exception\s*-\s*)+")


def plain_message(text: Optional[str]) -> Optional[str]:
    """The first line of a plain-text error (the router's own "Invalid model name ..."), without
    LiteLLM's class-name prefixes, if what is left names no internals."""
    if not text:
        return None
    line = _WRAPPER.sub("", text.strip().splitlines()[0]).strip()
    if not line or "{" in line or INTERNAL.search(line):
        return None
    return line[:MAX_MESSAGE_CHARS]


def client_error(*, status: Optional[int], model: str, deadline_passed: bool = False,
                 deadline_seconds: Optional[float] = None, retry_after: Optional[int] = None,
                 detail: Optional[str] = None) -> ClientError:
    """The error a client gets for a request to ``model`` that failed with upstream ``status``.

    - the gateway's deadline passed, or the last attempt timed out: 504;
    - 429 (every tier throttled or at capacity): 429 with the upstream's ``Retry-After``;
    - 400, 404, 413, 422 (the request itself): that status, with the upstream's message when it
      is safe to show (vLLM's "maximum context length is ..." is), else a fixed one;
    - an upstream that rejected the gateway's own credentials (401, 403) or failed (5xx, a dropped
      connection): 502, because nothing the client changes would help.
    """
    name = model if isinstance(model, str) and not INTERNAL.search(model) else "the requested model"
    name = name[:100]
    if deadline_passed or status in (408, 504):
        within = f" within the gateway's {deadline_seconds:g} s deadline" if deadline_passed and deadline_seconds else " in time"
        return ClientError(504, "timeout", f"No upstream answered for model '{name}'{within}. Retry later.")
    if status == 429:
        after = f" Retry after {retry_after} s." if retry_after is not None else " Retry later."
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return ClientError(429, "rate_limit_error", f"Every upstream for model '{name}' is rate-limited or at "
                           f"capacity.{after}", retry_after, headers)
    if status in (400, 404, 413, 422):
        msg = upstream_message(detail) or plain_message(detail) or \
            f"The upstream for model '{name}' rejected the request as invalid."
        return ClientError(status, "invalid_request_error", msg)
    return ClientError(502, "upstream_error", f"No upstream could serve model '{name}'. Retry later.")
