"""The Strait CrossGuard pack: `pulumi preview --policy-pack policies --policy-pack-config <file>`.

The rules live in policies/rules.py (pure functions, also run offline by `strait plan`); this file
only builds the pack. Constructing PolicyPack starts the analyzer's gRPC server and never returns.
"""
import sys
from pathlib import Path

# The pack runs from its own directory; the rules import the repo's `strait` toolkit (catalog, sizing).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.harness import INITIAL_CONFIG, PACK_NAME  # noqa: E402
from policies.pack import build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.ADVISORY,  # each policy sets its own level; this is the fallback
    initial_config=INITIAL_CONFIG or None,
    description="Strait: GPU spend cap, KV-cache fit, region offers, GPU serving hygiene, no plaintext secrets.",
)
