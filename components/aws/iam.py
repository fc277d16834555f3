"""IAM helpers shared by the AWS components: trust and access policies as data, and the one Pod Identity
pattern (role + inline policy + associations) that the weight cache, Langfuse's store and the autoscaler use."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

#: EKS Pod Identity: the agent on each node assumes roles trusting this principal.
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def assume_role_policy(service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
    }, sort_keys=True)


def pod_identity_trust() -> str:
    return assume_role_policy(POD_IDENTITY_PRINCIPAL, ("sts:AssumeRole", "sts:TagSession"))


def managed(policy: str) -> str:
    return f"arn:aws:iam::aws:policy/{policy}"


# --- the Pod Identity pattern, written once --------------------------------------------------------
def s3_access_policy(bucket_arn: str, object_actions: Sequence[str], prefix: str = "") -> str:
    """Least privilege on one bucket: ``object_actions`` on objects under ``prefix``, and listing the bucket.

    JSON with sorted keys, so the document (and the plan) is stable.
    """
    if not object_actions:
        raise ValueError("object_actions must name at least one s3:* object action")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(object_actions), "Resource": f"{bucket_arn}/{prefix}*"},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arn},
        ],
    }, sort_keys=True)


@dataclass(frozen=True)
class PodIdentityRole:
    """An IAM role that only EKS Pod Identity can assume, its inline policy, and its associations."""

    role: aws.iam.Role
    associations: dict[str, aws.eks.PodIdentityAssociation]
    """Keyed by ServiceAccount name."""

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.role.arn


def pod_identity_role(name: str, *, role_name: str, policy: pulumi.Input[str], cluster_name: pulumi.Input[str],
                      namespace: str, service_accounts: Sequence[str], tags: Mapping[str, str],
                      opts: pulumi.ResourceOptions, policy_resource_name: str | None = None,
                      association_names: Mapping[str, str] | None = None) -> PodIdentityRole:
    """Role (trusting only ``pods.eks.amazonaws.com``) + inline policy + one Pod Identity association per
    ServiceAccount of ``namespace``. No access keys, no IRSA OIDC provider.

    ``name`` names the role resource; the policy resource defaults to the same name and each association to
    ``{name}-{service_account}``. The two overrides exist only to keep the logical names (and so the URNs)
    of resources created before this helper: a physical role name cannot be created twice, so a changed URN
    would fail the update.
    """
    if not service_accounts:
        raise ValueError(f"{name}: a Pod Identity role needs at least one ServiceAccount to bind")
    role = aws.iam.Role(name, name=role_name, assume_role_policy=pod_identity_trust(), tags=dict(tags), opts=opts)
    aws.iam.RolePolicy(policy_resource_name or name, role=role.id, policy=policy, opts=opts)
    names = dict(association_names or {})
    assocs = {sa: aws.eks.PodIdentityAssociation(names.get(sa, f"{name}-{sa}"), cluster_name=cluster_name,
                                                 namespace=namespace, service_account=sa, role_arn=role.arn,
                                                 tags=dict(tags), opts=opts)
              for sa in sorted(set(service_accounts))}
    return PodIdentityRole(role=role, associations=assocs)
