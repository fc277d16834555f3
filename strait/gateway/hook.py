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
"""
from __future__ import annotations

import logging
import os
import sys

from litellm.integrations.custom_logger import CustomLogger

if __package__:  # imported as strait.gateway.hook (tests, tooling)
    from .routing import Rules, classify, fit_context
else:  # loaded by the proxy from the config directory, beside strait_routing.py
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.insert(0, _here)
    from strait_routing import Rules, classify, fit_context  # type: ignore[no-redef]

RULES_ENV = "STRAIT_ROUTING_RULES"
RULES_FILE = "strait_routing.json"
log = logging.getLogger("strait.gateway")


class StraitRouter(CustomLogger):
    def __init__(self, rules: Rules) -> None:
        super().__init__()
        self.rules = rules

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
        data["model"] = model
        return data


def load(path: str | None = None) -> StraitRouter:
    path = path or os.environ.get(RULES_ENV) or os.path.join(os.path.dirname(os.path.abspath(__file__)), RULES_FILE)
    return StraitRouter(Rules.load(path))


# The proxy takes this instance. Under the package name (tests) there is no rules file beside us.
proxy_handler_instance = None if __package__ else load()
