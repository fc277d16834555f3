"""The `router:` block on a model: typed, strict, with its defaults."""
import pytest
from pydantic import ValidationError

from strait.config.sections import ModelConfig, RouterConfig

BASE = {"model": "qwen2.5-7b-instruct", "pool": "gpu", "max_model_len": 8192, "replicas": 3}


def test_no_router_by_default_and_the_defaults_when_asked():
    assert ModelConfig.model_validate(BASE).router is None
    m = ModelConfig.model_validate({**BASE, "router": {}})
    assert m.router == RouterConfig(policy="consistent_hash", replicas=2)
    assert ModelConfig.model_validate({**BASE, "router": {"policy": "cache_aware"}}).router.policy == "cache_aware"


@pytest.mark.parametrize("router, where", [
    ({"policy": "round_robin"}, ("router", "policy")),
    ({"replicas": 0}, ("router", "replicas")),
    ({"polcy": "cache_aware"}, ("router", "polcy")),
])
def test_bad_router_blocks_are_refused_naming_the_field(router, where):
    with pytest.raises(ValidationError) as e:
        ModelConfig.model_validate({**BASE, "router": router})
    assert [tuple(err["loc"]) for err in e.value.errors()] == [where]
