"""Physical names respect each cloud's limits, for any input (property tests)."""
import re

from hypothesis import given
from hypothesis import strategies as st

from strait.naming import dns_label, eks_cluster_name, iam_role_name, s3_bucket_name
from strait.tags import gcp_labels, k8s_labels, selector_labels, standard_tags

names = st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=200)
S3 = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
DNS = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@given(names, names, st.sampled_from(["ap-southeast-1", "ap-southeast-3"]), names)
def test_bucket_names_are_valid_s3_names(project, stack, region, purpose):
    name = s3_bucket_name(project, stack, region, purpose)
    assert S3.match(name), name
    assert ".." not in name and not name.startswith("xn--")


@given(names, names)
def test_bucket_names_are_deterministic_and_distinct_per_stack(stack_a, stack_b):
    a = s3_bucket_name("strait", stack_a, "ap-southeast-1", "weights")
    assert a == s3_bucket_name("strait", stack_a, "ap-southeast-1", "weights")
    if stack_a != stack_b:
        assert a != s3_bucket_name("strait", stack_b, "ap-southeast-1", "weights")


@given(names, st.integers(min_value=8, max_value=63))
def test_dns_labels(name, max_len):
    label = dns_label(name, max_len)
    assert len(label) <= max_len and DNS.match(label), label


@given(names, names)
def test_iam_and_cluster_names_fit(cluster, purpose):
    assert len(iam_role_name(cluster, purpose)) <= 64
    assert len(eks_cluster_name(cluster, purpose)) <= 40


@given(st.dictionaries(names, names, max_size=5))
def test_gcp_labels_are_lower_case_and_short(tags):
    for k, v in gcp_labels(tags).items():
        assert re.match(r"^[a-z][a-z0-9_-]{0,62}$", k) and re.match(r"^[a-z0-9_-]{0,63}$", v)


def test_tags_merge_standard_then_component_then_user():
    tags = standard_tags(project="strait", stack="s", blueprint="b", component="network", cost_center="cc",
                         extra={"component": "network-x", "tier": "1"}, user={"tier": "2", "owner": "me"})
    assert tags == {"blueprint": "b", "component": "network-x", "cost-center": "cc", "managed-by": "strait",
                    "owner": "me", "project": "strait", "stack": "s", "tier": "2"}


def test_selector_labels_exclude_the_version():
    labels = k8s_labels(name="vllm", instance="qwen", component="model-server", version="0.33.0")
    assert selector_labels(labels) == {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "qwen"}
