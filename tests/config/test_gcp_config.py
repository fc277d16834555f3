"""`cloud: gcp` stacks: the gcp section, GKE versions and GCP machine types checked against the catalog;
AWS-only settings refused; every error at once with field, value and fix."""
from __future__ import annotations

import copy

import pytest

from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw

PROVIDER_KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def gke_raw() -> dict:
    """phase1-sg's model and gateway sections on GKE in Singapore."""
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw.pop("network", None)
    raw.update(cloud="gcp", region="asia-southeast1", gcp={"project": "strait-prod"},
               cluster={"kubernetes_version": "1.35", "system_instance_type": "e2-standard-8", "system_nodes": 3},
               gpu_pools={"a100x2": {"instance_types": ["a2-highgpu-2g"], "capacity": "on_demand", "min_size": 2,
                                     "desired_size": 2, "max_size": 3, "disk_size_gib": 200}})
    for m in raw["models"].values():
        m.update(pool="a100x2", tensor_parallel_size=2)
    return raw


def _errors(raw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg-gke", secrets_set=PROVIDER_KEYS)
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


def test_a_gke_stack_validates():
    cfg = validate_stack(gke_raw(), "phase1-sg-gke", secrets_set=PROVIDER_KEYS)
    assert cfg.cloud == "gcp" and cfg.gcp.project == "strait-prod" and cfg.gcp.release_channel == "REGULAR"


def test_gcp_needs_its_section_a_gcp_region_and_a_gke_version():
    raw = gke_raw()
    raw.pop("gcp")
    raw["region"] = "ap-southeast-1"
    raw["cluster"]["kubernetes_version"] = "1.33"
    errors = _errors(raw)
    assert "strait:region = 'ap-southeast-1': not a GCP region in the catalog. Fix: did you mean 'asia-southeast1'? " \
           "use one of: asia-southeast1, asia-southeast2." in errors
    assert "strait:cluster.kubernetes_version = '1.33': not a GKE version in the catalog. Fix: use one of: 1.35." in errors
    assert "strait:gcp = None: cloud: gcp needs a gcp section (at least the project). Fix: add " \
           "`strait:gcp: {project: <your-project-id>}`." in errors


def test_aws_only_settings_and_aws_types_are_refused_together():
    raw = gke_raw()
    raw["network"] = {"cidr": "10.40.0.0/16", "nat_gateways": "per_az"}
    raw["gpu_pools"]["a100x2"].update(instance_types=["g4dn.12xlarge", "a2-highgpu-2g"], ami="bottlerocket_nvidia")
    errors = _errors(raw)
    assert any(e.startswith("strait:gpu_pools.a100x2.instance_types[0] = 'g4dn.12xlarge': not offered in "
                            "asia-southeast1 according to the catalog") for e in errors), errors
    assert "strait:gpu_pools.a100x2.ami = 'bottlerocket_nvidia': is an EKS setting; GKE nodes run Container-Optimized " \
           "OS with the driver GKE installs. Fix: remove it." in errors
    assert 'strait:gpu_pools.a100x2.instance_types = ["g4dn.12xlarge", "a2-highgpu-2g"]: a GKE node pool has exactly ' \
           'one machine type. Fix: keep one, or make one pool per machine type.' in errors
    assert "strait:network.nat_gateways = 'per_az': is an AWS setting: Cloud NAT is regional and survives a zone " \
           "loss. Fix: remove it." in errors
    assert any(e.startswith("strait:network.cidr = '10.40.0.0/16': is the AWS VPC range") for e in errors)


def test_gpu_count_per_machine_bounds_tensor_parallelism():
    raw = gke_raw()
    raw["models"]["qwen32b"]["tensor_parallel_size"] = 4
    errors = _errors(raw)
    assert any(e.startswith("strait:models.qwen32b.tensor_parallel_size = 4") and "2" in e for e in errors), errors


def test_a_machine_type_not_offered_in_the_region():
    raw = gke_raw()
    raw["region"] = "asia-southeast2"
    errors = _errors(raw)
    assert any(e.startswith("strait:gpu_pools.a100x2.instance_types[0] = 'a2-highgpu-2g': not offered in "
                            "asia-southeast2") for e in errors), errors


def test_gcp_ranges_and_project_are_checked():
    raw = gke_raw()
    raw["gcp"] = {"project": "Strait_Prod", "pods_cidr": "10.40.0.0/14", "master_cidr": "172.16.0.0/24"}
    errors = _errors(raw)
    assert any(e.startswith("strait:gcp.project = 'Strait_Prod'") for e in errors), errors
    assert any(e.startswith("strait:gcp.master_cidr = '172.16.0.0/24': GKE's control plane needs a /28") for e in errors)


def test_overlapping_gcp_ranges():
    raw = gke_raw()
    raw["gcp"] = {"project": "strait-prod", "pods_cidr": "10.40.0.0/14"}
    assert "strait:gcp.pods_cidr = '10.40.0.0/14': overlaps gcp.nodes_cidr (10.40.0.0/20). Fix: give each range its " \
           "own block." in _errors(raw)


def test_a_gcp_section_on_aws_is_an_error():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gcp"] = {"project": "strait-prod"}
    assert 'strait:gcp = {"project": "strait-prod"}: is only used with cloud: gcp. Fix: remove the gcp section, or set ' \
           'cloud: gcp and a GCP region.' in _errors(raw)
