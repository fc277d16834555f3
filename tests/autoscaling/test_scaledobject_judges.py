"""Every ScaledObject QueueAutoscaler renders, judged by KEDA's own model (cloudcoil-models-keda) and by a strict
check of every key against KEDA 2.21's CRD schema and the keys its scalers read; and the judges catch the
mistakes they exist for."""
from __future__ import annotations

import copy

import pytest

from components.k8s.keda import BusinessHours, QueueAutoscalerArgs, scaling_spec
from strait.render.keda import render_scaled_object
from tests.autoscaling.judges import model_validate, strict_errors

PROM = "http://prometheus-operated.strait-monitoring.svc:9090"
VARIANTS = {
    "vllm, Jakarta office hours": dict(engine="vllm", business_hours=BusinessHours(timezone="Asia/Jakarta")),
    "sglang, Singapore, weekend too": dict(engine="sglang", business_hours=BusinessHours(
        timezone="Asia/Singapore", start="07:30", end="22:00", days=("sat", "sun", "mon")), business_hours_replicas=3),
    "vllm, no cron floor": dict(engine="vllm"),
    "midnight lead": dict(engine="vllm", business_hours=BusinessHours(timezone="Asia/Bangkok", start="00:05"),
                          cold_start_seconds=1500),
}


def rendered(variant: str) -> dict:
    kw = dict(namespace="strait-serving", deployment="m", served_model_name="Qwen/Qwen2.5-7B-Instruct",
              prometheus_address=PROM, max_replicas=6, cold_start_seconds=540) | VARIANTS[variant]
    return render_scaled_object(scaling_spec("m", QueueAutoscalerArgs(**kw), {"app.kubernetes.io/name": "x"}))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_kedas_model_accepts_it(variant):
    so = rendered(variant)
    m = model_validate(so)
    assert m.spec.max_replica_count == 6 and m.spec.min_replica_count == 1
    assert [t.type for t in m.spec.triggers] == [t["type"] for t in so["spec"]["triggers"]]
    assert m.spec.advanced.horizontal_pod_autoscaler_config.behavior.scale_down.stabilization_window_seconds >= 300


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_key_is_one_keda_221_knows(variant):
    assert strict_errors(rendered(variant)) == []


MUTATIONS = {
    # what a hand-written ScaledObject gets wrong -> what the strict check says
    "misspelt maxReplicas": (lambda s: s["spec"].update(maxReplicas=s["spec"].pop("maxReplicaCount")),
                             "spec: Additional properties are not allowed ('maxReplicas' was unexpected)"),
    "metricName (removed in 2.12)": (lambda s: s["spec"]["triggers"][0]["metadata"].update(metricName="q"),
                                     "triggers/0/metadata/metricName: the prometheus scaler does not read it"),
    "stabilisation under behaviour's wrong key": (
        lambda s: s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"].update(
            stabilizationWindow=300), "Additional properties are not allowed ('stabilizationWindow' was unexpected)"),
    "cron timeZone spelt like Kubernetes CronJob": (
        lambda s: s["spec"]["triggers"][1]["metadata"].update(timeZone=s["spec"]["triggers"][1]["metadata"].pop("timezone")),
        "triggers/1/metadata/timeZone: the cron scaler does not read it"),
    "threshold missing": (lambda s: s["spec"]["triggers"][0]["metadata"].pop("threshold"),
                          "triggers/0/metadata/threshold: the prometheus scaler requires it"),
    "min above max (the CRD's CEL rule)": (lambda s: s["spec"].update(minReplicaCount=7),
                                          "minReplicaCount must be less than or equal to maxReplicaCount"),
    "a replica count as a string": (lambda s: s["spec"].update(maxReplicaCount="6"), "'6' is not of type 'integer'"),
    "unknown fallback behaviour": (lambda s: s["spec"]["fallback"].update(behavior="hold"), "'hold' is not one of"),
    # KEDA's admission webhook
    "a name too long for keda-hpa-<name>": (lambda s: s["metadata"].update(name="m" * 55),
                                            "derived from scaledobject is 64 characters long"),
    "two triggers with one name": (lambda s: s["spec"]["triggers"][1].update(name="queue"),
                                   "triggerName 'queue' is defined multiple times"),
    "cached metrics on a cron trigger": (lambda s: s["spec"]["triggers"][1].update(useCachedMetrics=True),
                                         "property \"useCachedMetrics\" is not supported for 'cron' scaler"),
    "an idle count at the standby": (lambda s: s["spec"].update(idleReplicaCount=1),
                                     "IdleReplicaCount=1 must be less than MinReplicaCount=1"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_the_strict_check_catches(case):
    mutate, message = MUTATIONS[case]
    so = copy.deepcopy(rendered("vllm, Jakarta office hours"))
    mutate(so)
    errors = strict_errors(so)
    assert any(message in e for e in errors), errors


def test_kedas_model_alone_lets_unknown_keys_through():
    """Why the strict check exists: the model checks types but keeps quiet about a misspelt key."""
    so = copy.deepcopy(rendered("vllm, Jakarta office hours"))
    so["spec"]["maxReplicas"] = so["spec"].pop("maxReplicaCount")
    model_validate(so)  # no error from the model ...
    assert strict_errors(so)  # ... but the strict check refuses it
    so["spec"]["minReplicaCount"] = "one"
    with pytest.raises(Exception, match="minReplicaCount"):
        model_validate(so)
