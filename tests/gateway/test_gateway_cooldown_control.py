"""Negative control for the cooldown settings: the same tiers with LiteLLM's default cooldown
behaviour (no allowed_fails / allowed_fails_policy) keep sending every request to a failing
single-deployment tier first, the behaviour users report in litellm#40405. With what Strait renders
(tests/gateway/test_gateway_proxy.py) the tier costs one attempt per cooldown window instead.
"""
from __future__ import annotations

import importlib.util

import pytest
import yaml

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)

from strait.render.litellm import CONFIG_FILE, render_gateway_files  # noqa: E402
from tests.gateway.proxy import FAST, Fakes, Proxy, four_tier_spec, secret_env_for, served_by  # noqa: E402


def test_without_strait_cooldown_settings_a_failing_tier_is_tried_on_every_request():
    fakes = Fakes.start()
    spec = four_tier_spec(fakes)
    files = render_gateway_files(spec)
    cfg = yaml.safe_load(files[CONFIG_FILE])
    for key in ("allowed_fails", "allowed_fails_policy"):
        del cfg["router_settings"][key]
    files[CONFIG_FILE] = yaml.safe_dump(cfg)
    proxy = Proxy.from_files(files, secret_env_for(spec)).start()
    try:
        fakes.fast.mode = "fail"
        for _ in range(6):
            assert served_by(proxy.chat(FAST)) == "smart"
        assert len(fakes.fast.hits) == 6
    finally:
        proxy.cleanup()
        fakes.close()
