"""Subnet plan: pure and deterministic, so a re-plan never moves a subnet."""
from __future__ import annotations

import ipaddress


def plan_subnets(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs, one of each per zone.

    The VPC is cut in quarters: the first ``zones`` quarters are large private subnets (the VPC CNI
    gives every pod a VPC address), and the last quarter is cut again for small public subnets
    that only hold load balancers and NAT gateways.
    """
    if not 1 <= zones <= 3:
        raise ValueError("zones must be 1 to 3")
    quarters = list(ipaddress.ip_network(cidr).subnets(prefixlen_diff=2))
    private = [str(q) for q in quarters[:zones]]
    public = [str(s) for s in list(quarters[3].subnets(prefixlen_diff=2))[:zones]]
    return public, private
