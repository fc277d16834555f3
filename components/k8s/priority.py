"""Pod priority classes: serving above batch.

When GPU nodes are short (a spot reclaim, a pool at max_size), the scheduler evicts lower-priority pods to place
higher ones. Model servers and the gateway get ``strait-serving``; seeding Jobs and other batch work get
``strait-batch``, whose ``preemptionPolicy: Never`` makes a batch pod wait for room instead of evicting anything.
Neither is the cluster default (``globalDefault: false``): pods that name no class keep priority 0, between the two.
The values stay far below the system classes (system-cluster-critical is 2,000,000,000; user classes may use up to
1,000,000,000), so the cluster's own components always win.

A pod naming a PriorityClass that does not exist is refused at admission, so a workload that uses one must
depend on :attr:`PriorityClasses.ready`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.platform import PodPriority
from strait.naming import child
from strait.tags import k8s_labels

SERVING = "strait-serving"
BATCH = "strait-batch"


@dataclass(frozen=True, kw_only=True)
class PriorityClassSpec:
    name: str
    value: int
    preemption_policy: str
    description: str


#: Serving above batch, both above nothing the cluster needs.
CLASSES: tuple[PriorityClassSpec, ...] = (
    PriorityClassSpec(name=SERVING, value=100_000, preemption_policy="PreemptLowerPriority",
                      description="Strait model servers and gateway: may evict batch pods to get a node."),
    PriorityClassSpec(name=BATCH, value=1_000, preemption_policy="Never",
                      description="Strait batch work (weight seeding): yields to serving and never evicts anything."),
)


def priority_class_body(spec: PriorityClassSpec) -> dict:
    """The PriorityClass object (scheduling.k8s.io/v1) without metadata labels; pure."""
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": spec.name},
            "value": spec.value, "globalDefault": False, "preemptionPolicy": spec.preemption_policy,
            "description": spec.description}


@dataclass(frozen=True, kw_only=True)
class PriorityClassesArgs:
    classes: tuple[PriorityClassSpec, ...] = CLASSES
    """Default: strait-serving (100000, may preempt) and strait-batch (1000, never preempts)."""


class PriorityClasses(pulumi.ComponentResource):
    """The cluster-scoped PriorityClasses. ``serving`` and ``batch`` are the names to put in pod specs
    (``priorityClassName``); ``ready`` is what those workloads depend on."""

    serving: str
    batch: str
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: PriorityClassesArgs | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:PriorityClasses", name, None, opts)
        args = args or PriorityClassesArgs()
        names = [c.name for c in args.classes]
        if len(names) != len(set(names)):
            raise ValueError(f"priority class names must be unique: {names}")
        if {SERVING, BATCH} - set(names):
            raise ValueError(f"priority classes must include {SERVING} and {BATCH}: got {names}")
        by = {c.name: c for c in args.classes}
        if by[SERVING].value <= by[BATCH].value:
            raise ValueError(f"{SERVING} ({by[SERVING].value}) must be above {BATCH} ({by[BATCH].value})")
        for c in args.classes:
            if not -2_147_483_648 <= c.value <= 1_000_000_000:
                raise ValueError(f"priority class {c.name}: value {c.value} is above 1000000000, which Kubernetes "
                                 "reserves for system classes")
        labels = k8s_labels(name="priority-class", instance=name, component="scheduling")
        self.ready = []
        for c in args.classes:
            body = priority_class_body(c)
            self.ready.append(k8s.scheduling.v1.PriorityClass(
                child(name, c.name), metadata={**body["metadata"], "labels": labels}, value=body["value"],
                global_default=False, preemption_policy=body["preemptionPolicy"], description=body["description"],
                opts=pulumi.ResourceOptions(parent=self)))
        self.serving = SERVING
        self.batch = BATCH
        self.register_outputs({"serving": SERVING, "batch": BATCH})

    def pod_priorities(self) -> dict[str, PodPriority]:
        """By role (``serving``, ``batch``): the class name with the resources a pod naming it must wait for."""
        ready = tuple(self.ready)
        return {"serving": PodPriority(class_name=self.serving, ready=ready),
                "batch": PodPriority(class_name=self.batch, ready=ready)}
