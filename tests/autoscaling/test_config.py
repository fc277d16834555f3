"""The `queue_autoscaling` section: defaults, exact errors for bad input (an unknown IANA time zone above all),
and the cross-checks against the stack's models and pools."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from strait.catalog import load_catalog
from strait.config.autoscaling import check_queue_autoscaling
from strait.config.errors import from_validation_error
from strait.config.sections import GpuPoolConfig, ModelConfig, QueueAutoscalingConfig, StrictModel


class Stack(StrictModel):
    """A blueprint's model with the section under its key, as phase 2 will have it."""

    queue_autoscaling: QueueAutoscalingConfig


def errors(section: dict) -> list[str]:
    try:
        Stack.model_validate({"queue_autoscaling": section})
    except ValidationError as exc:
        return [i.render() for i in from_validation_error(exc, Stack)]
    return []


GOOD = {"models": {"qwen7b": {"max_replicas": 4}}, "business_hours": {"timezone": "Asia/Jakarta"}}


def test_defaults():
    s = Stack.model_validate({"queue_autoscaling": GOOD}).queue_autoscaling
    m = s.models["qwen7b"]
    assert (m.min_replicas, m.queue_per_replica, m.scale_down_stabilization_seconds, m.polling_interval_seconds) == \
        (1, 4, 600, 15)
    bh = s.business_hours
    assert (bh.start, bh.end, bh.days) == ("09:00", "18:00", ["mon", "tue", "wed", "thu", "fri"])
    assert s.node_provision_seconds == 600
    assert errors(GOOD) == []


P = "strait:queue_autoscaling"
CASES = {
    "unknown time zone": (
        {**GOOD, "business_hours": {"timezone": "Asia/Jakartaa"}},
        f"{P}.business_hours.timezone = 'Asia/Jakartaa': not an IANA time zone (the tz database has no such zone; names "
        "look like Asia/Jakarta); KEDA's cron trigger could not load it and would never fire. Fix: use a name from the "
        "tz database such as Asia/Jakarta, Asia/Singapore, Asia/Bangkok or UTC."),
    "an abbreviation is not a zone": (
        {**GOOD, "business_hours": {"timezone": "WIB"}},
        f"{P}.business_hours.timezone = 'WIB': not an IANA time zone (the tz database has no such zone; names look like "
        "Asia/Jakarta); KEDA's cron trigger could not load it and would never fire. Fix: use a name from the tz database "
        "such as Asia/Jakarta, Asia/Singapore, Asia/Bangkok or UTC."),
    "time zone missing": (
        {**GOOD, "business_hours": {"start": "08:00"}},
        f"{P}.business_hours.timezone = <not set>: field required. Fix: add this key to the stack file."),
    "not HH:MM": (
        {**GOOD, "business_hours": {"timezone": "UTC", "start": "9am"}},
        f"{P}.business_hours.start = '9am': not a time of day. Fix: write it as 24-hour HH:MM, e.g. 09:00 or 18:30."),
    "not a time at all": (
        {**GOOD, "business_hours": {"timezone": "UTC", "end": "24:00"}},
        f"{P}.business_hours.end = '24:00': not a time of day. Fix: write it as 24-hour HH:MM, e.g. 09:00 or 18:30."),
    "end before start": (
        {**GOOD, "business_hours": {"timezone": "UTC", "start": "18:00", "end": "09:00"}},
        f'{P}.business_hours = {{"end": "09:00", "start": "18:00", "timezone": "UTC"}}: end 09:00 is not after start '
        "18:00; windows across midnight are not supported. Fix: set end later than start on the same day."),
    "a day twice": (
        {**GOOD, "business_hours": {"timezone": "UTC", "days": ["mon", "mon"]}},
        f'{P}.business_hours.days = ["mon", "mon"]: lists a day twice. Fix: name each business day once.'),
    "no warm standby": (
        {"models": {"qwen7b": {"max_replicas": 4, "min_replicas": 0}}},
        f"{P}.models.qwen7b.min_replicas = 0: input should be greater than or equal to 1. "
        "Fix: give a value that is greater than or equal to 1."),
    "stabilisation under five minutes": (
        {"models": {"qwen7b": {"max_replicas": 4, "scale_down_stabilization_seconds": 120}}},
        f"{P}.models.qwen7b.scale_down_stabilization_seconds = 120: input should be greater than or equal to 300. "
        "Fix: give a value that is greater than or equal to 300."),
    "max below min": (
        {"models": {"qwen7b": {"max_replicas": 2, "min_replicas": 3}}},
        f'{P}.models.qwen7b = {{"max_replicas": 2, "min_replicas": 3}}: max_replicas 2 is below min_replicas 3. '
        "Fix: raise max_replicas or lower min_replicas."),
    "floor above max": (
        {**GOOD, "models": {"qwen7b": {"max_replicas": 2, "business_hours_replicas": 3}}},
        f'{P}.models.qwen7b = {{"business_hours_replicas": 3, "max_replicas": 2}}: business_hours_replicas 3 is outside '
        "min_replicas 1 .. max_replicas 2. Fix: set it between the two."),
    "a floor without business hours": (
        {"models": {"qwen7b": {"max_replicas": 4, "business_hours_replicas": 2}}},
        f'{P} = {{"models": {{"qwen7b": {{"business_hours_replicas": 2, "max_replicas": 4}}}}}}: models qwen7b set business_hours_replicas but there are no business_hours. '
        "Fix: add business_hours (timezone, start, end, days) or remove business_hours_replicas."),
    "misspelt key": (
        {"models": {"qwen7b": {"max_replicas": 4, "max_replica": 5}}},
        f"{P}.models.qwen7b.max_replica = <not shown>: unknown key 'max_replica'. Fix: did you mean 'max_replicas'? remove it or "
        "correct its spelling; allowed keys here: business_hours_replicas, max_replicas, min_replicas, polling_interval_seconds, "
        "queue_per_replica, scale_down_stabilization_seconds."),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_the_exact_error(case):
    section, expected = CASES[case]
    assert errors(section) == [expected]


CAT = load_catalog()


def model(pool="a100", tp=1, replicas=1) -> ModelConfig:
    return ModelConfig(model="qwen2.5-7b-instruct", pool=pool, max_model_len=8192, tensor_parallel_size=tp,
                       replicas=replicas)


def pools(max_size=4) -> dict[str, GpuPoolConfig]:
    it = next(k for k, t in sorted(CAT.instance_types.items()) if t.gpu and t.gpu_count == 8 and t.cloud == "aws")
    return {"a100": GpuPoolConfig(instance_types=[it], max_size=max_size)}


def issues(section: dict, models: dict[str, ModelConfig], max_size=4) -> list[str]:
    return [i.render() for i in check_queue_autoscaling(QueueAutoscalingConfig.model_validate(section), models,
                                                        pools(max_size), CAT)]


def test_max_replicas_fit_the_pool_one_replica_per_node():
    assert issues({"models": {"m": {"max_replicas": 4}}}, {"m": model()}) == []
    # 8 GPUs a node, TP 1: still one replica per node (the model server's anti-affinity), so 5 need 5 nodes.
    assert issues({"models": {"m": {"max_replicas": 5}}}, {"m": model()}) == [
        "strait:queue_autoscaling.models.m.max_replicas = 5: needs 5 nodes of pool a100, which has max_size 4 (one "
        "replica per node); the replicas beyond it would stay Pending. Fix: lower max_replicas to 4 or raise "
        "gpu_pools.a100.max_size to 5."]


def test_models_sharing_a_pool_must_fit_together():
    got = issues({"models": {"m": {"max_replicas": 3}}}, {"m": model(), "n": model(replicas=2)})
    assert got == ["strait:gpu_pools.a100.max_size = 4: the models on this pool need 5 nodes at their most (m 3, n 2). "
                   "Fix: raise max_size to 5 or lower those models' max_replicas."]


def test_an_autoscaled_model_the_stack_does_not_have():
    assert issues({"models": {"ghost": {"max_replicas": 1}}}, {"m": model()}) == [
        "strait:queue_autoscaling.models.ghost = 'ghost': not a model of this stack. Fix: use one of the keys of "
        "models: m."]
