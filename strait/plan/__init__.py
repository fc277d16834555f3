"""The offline plan: run the real Pulumi program under Pulumi's own mocks, with no credentials."""
from strait.plan.engine import PlanResult, ResourceRecord, run_plan

__all__ = ["PlanResult", "ResourceRecord", "run_plan"]
