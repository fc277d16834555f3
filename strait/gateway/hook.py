"""The LiteLLM proxy callback that applies Strait's tier routing.

Loaded by the proxy itself: ``litellm_settings.callbacks: [strait_hook.proxy_handler_instance]``.
LiteLLM 1.109.1 resolves that entry with ``get_instance_fn(value, config_file_path)``
(litellm/proxy/types_utils/utils.py): it imports ``<dir of config.yaml>/strait_hook.py`` with
``importlib.util.spec_from_file_location`` and takes ``proxy_handler_instance`` from it. The
gateway component ships this file, ``strait_routing.py`` (strait/gateway/routing.py) and
``strait_routing.json`` (the rules) in the same ConfigMap as ``config.yaml``.

It only uses LiteLLM's documented ``CustomLogger.async_pre_call_hook``, which the proxy runs
before it hands ``data`` to the router (litellm/proxy/utils.py ``ProxyLogging.pre_call_hook``):
- a request for the auto model gets ``data["model"]`` rewritten to the tier the classifier picks;
- a request whose estimated size exceeds its tier's window goes to the tier's first
  context_window_fallback that fits, before any upstream is called.
Failover, retries and cooldowns stay LiteLLM's own (router_settings in config.yaml).

Two more documented ``CustomLogger`` methods bound and clean up failures:
- ``async_pre_call_deployment_hook`` runs before every attempt, the first one, each retry and
  each fallback (``litellm.utils.client`` -> ``async_pre_call_deployment_hook``). With
  ``request_deadline_seconds`` set, it gives the attempt at most the time left of the request's
  deadline, and refuses an attempt once none is left, so the whole fallback chain ends by the
  deadline instead of after the sum of every tier's timeout.
- ``async_post_call_failure_hook`` may return an ``HTTPException`` that replaces the proxy's
  error (``ProxyLogging.post_call_failure_hook``). It returns a clean OpenAI-style error
  (strait_errors.py): no adapter class names, no upstream body, and the upstream's
  ``Retry-After`` on a 429.

Queue-aware overflow (strait_overflow.py): after the tier is chosen, a tier with an overflow rule
whose engines' real waiting queue (read from their /metrics by a background poller, about once a
second) is deeper than its threshold is rewritten to its overflow tier. The decision only reads a
cache: a slow or broken /metrics never delays a request, and an unknown queue never overflows.
Each overflow counts in ``strait_gateway_overflow_requests_total{tier,to}`` (prometheus_client,
which the proxy's /metrics serves, through PROMETHEUS_MULTIPROC_DIR with --prometheus_metrics_port).
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time

from fastapi import HTTPException
from litellm.exceptions import BadRequestError
from litellm.integrations.custom_logger import CustomLogger

if __package__:  # imported as strait.gateway.hook (tests, tooling)
    from .errors import client_error, retry_after_seconds
    from .overflow import QueueWatcher
    from .routing import Rules, classify, fit_context
else:  # loaded by the proxy from the config directory, beside strait_routing.py
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.insert(0, _here)
    from strait_errors import client_error, retry_after_seconds  # type: ignore[no-redef]
    from strait_overflow import QueueWatcher  # type: ignore[no-redef]
    from strait_routing import Rules, classify, fit_context  # type: ignore[no-redef]

RULES_ENV = "STRAIT_ROUTING_RULES"
RULES_FILE = "strait_routing.json"
#: Request metadata key holding the request's deadline, on this process's monotonic clock. Set by
#: the pre-call hook on every request (a client's own value is overwritten).
DEADLINE_KEY = "strait_deadline_monotonic"
#: An attempt is not started with less time than this left: it could not get an answer anyway.
MIN_ATTEMPT_SECONDS = 0.05
log = logging.getLogger("strait.gateway")


def _overflow_counter():
    """The overflow counter, or None without prometheus_client (a LiteLLM dependency of its prometheus callback)."""
    try:
        from prometheus_client import REGISTRY, Counter
    except ImportError:
        return None
    name = "strait_gateway_overflow_requests"
    existing = getattr(REGISTRY, "_names_to_collectors", {}).get(name + "_total")
    if existing is not None:  # the hook module loaded twice in one process (tests)
        return existing
    return Counter(name, "Requests the gateway sent to another tier because the self-hosted tier's real queue "
                   "was deeper than its overflow_queue_depth.", ["tier", "to"])


OVERFLOWED = _overflow_counter()


def _deadline(kwargs) -> float | None:
    md = kwargs.get("metadata")  # where the pre-call hook put it (the proxy passes it to every attempt)
    if isinstance(md, dict) and isinstance(md.get(DEADLINE_KEY), (int, float)):
        return float(md[DEADLINE_KEY])
    return None


def _mark_caller_timeout(kwargs) -> None:
    """Mark a timeout the deadline shortened as the caller's, as the proxy marks a client's own
    ``timeout`` (``client_side_timeout``): LiteLLM then does not hold the 408 against the
    deployment's health (litellm/router_utils/cooldown_handlers.py ``is_caller_timeout_408``), so a
    healthy tier that merely got the request's last seconds is not cooled down. The cooldown check
    reads the attempt's logging record, which completion() builds without this key, so it is set
    there as well (tests/gateway/test_gateway_faults.py proves the effect on the real proxy)."""
    kwargs["client_side_timeout"] = True
    details = getattr(kwargs.get("litellm_logging_obj"), "model_call_details", None)
    params = details.get("litellm_params") if isinstance(details, dict) else None
    if isinstance(params, dict):
        params["client_side_timeout"] = True


def _response_headers(exc: BaseException):
    headers = getattr(exc, "litellm_response_headers", None)
    if headers:
        return headers
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None)


class StraitRouter(CustomLogger):
    def __init__(self, rules: Rules, watcher: "QueueWatcher | None" = None) -> None:
        super().__init__()
        self.rules = rules
        self.watcher = watcher

    def _overflow(self, model, data):
        """The tier to use instead of ``model`` when its engines' queue is too deep, else ``model``."""
        if self.watcher is None or model not in self.watcher.rules:
            return model
        self.watcher.ensure_started()
        to, depth = self.watcher.overflow_target(model)
        if to is None:
            return model
        data.setdefault("metadata", {})["strait_overflow"] = {"from": model, "to": to, "queue_depth": depth}
        if OVERFLOWED is not None:
            OVERFLOWED.labels(tier=model, to=to).inc()
        log.info("%s -> %s: queue %.1f per replica > %g", model, to, depth, self.watcher.rules[model].queue_depth)
        return to

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        model = data.get("model")
        if self.rules.auto_model and model == self.rules.auto_model and self.rules.ladder:
            decision = classify(data, self.rules)
            model = decision.tier
            data.setdefault("metadata", {})["strait_route"] = {"tier": decision.tier, "score": decision.score,
                                                               "reasons": list(decision.reasons)}
            log.info("auto -> %s (score %d: %s)", decision.tier, decision.score, "; ".join(decision.reasons))
        if model in self.rules.tiers:
            fitted, why = fit_context(model, data, self.rules)
            if why:
                log.info("%s -> %s: %s", model, fitted, why)
                model = fitted
        model = self._overflow(model, data)
        data["model"] = model
        md = data.get("metadata")
        if isinstance(md, dict):
            md.pop(DEADLINE_KEY, None)  # only the gateway sets a deadline, never a client's metadata
        if self.rules.request_deadline_seconds:
            if not isinstance(md, dict):
                md = data["metadata"] = {}
            md[DEADLINE_KEY] = time.monotonic() + self.rules.request_deadline_seconds
        return data

    async def async_pre_call_deployment_hook(self, kwargs, call_type):
        deadline = _deadline(kwargs)
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left < MIN_ATTEMPT_SECONDS:
            # A 400, not a Timeout: LiteLLM cools a deployment down after a 408, and the deadline says
            # nothing about this deployment's health. The client still gets a 504 (the failure hook).
            raise BadRequestError(message=f"strait: the request's {self.rules.request_deadline_seconds:g} s deadline "
                                  "passed before this attempt", model=str(kwargs.get("model")), llm_provider="strait")
        for key in ("timeout", "stream_timeout"):
            current = kwargs.get(key)
            if not isinstance(current, (int, float)) or current > left:
                kwargs[key] = left
                _mark_caller_timeout(kwargs)
        return kwargs

    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict,
                                           traceback_str=None):
        exc = original_exception
        if isinstance(exc, HTTPException) or type(exc).__name__ == "ProxyException":
            return None  # the proxy's own answers (a wrong key, a malformed body) are already clean
        status = getattr(exc, "status_code", None)
        cooldown = getattr(exc, "cooldown_time", None)  # RouterRateLimitError: every deployment cooling down
        if status is None and isinstance(cooldown, (int, float)):
            status = 429
        retry_after = retry_after_seconds(_response_headers(exc))
        if retry_after is None and isinstance(cooldown, (int, float)) and cooldown > 0:
            retry_after = math.ceil(cooldown)
        deadline = _deadline(request_data)
        err = client_error(status=status if isinstance(status, int) else None, model=str(request_data.get("model")),
                           deadline_passed=deadline is not None and time.monotonic() >= deadline - 2 * MIN_ATTEMPT_SECONDS,
                           deadline_seconds=self.rules.request_deadline_seconds, retry_after=retry_after,
                           detail=str(getattr(exc, "message", None) or exc))
        log.info("request for %s failed with %s %s; client gets %d", request_data.get("model"), status,
                 type(exc).__name__, err.status)
        # Always some headers: with none, the proxy would add the upstream's own (llm_provider-*).
        out = HTTPException(status_code=err.status, detail=err.message,
                            headers={"Cache-Control": "no-store", **err.headers})
        out.type = err.type  # the proxy's error body takes error.type from here
        return out


def load(path: str | None = None) -> StraitRouter:
    path = path or os.environ.get(RULES_ENV) or os.path.join(os.path.dirname(os.path.abspath(__file__)), RULES_FILE)
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    watch = raw.get("overflow")
    return StraitRouter(Rules.from_dict(raw), QueueWatcher.from_dict(watch) if watch else None)


# The proxy takes this instance. Under the package name (tests) there is no rules file beside us.
proxy_handler_instance = None if __package__ else load()
