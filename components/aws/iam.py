"""Small IAM helpers shared by the AWS components (trust policies as data, not strings)."""
from __future__ import annotations

import json

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
