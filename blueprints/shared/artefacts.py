"""What a vLLM server reads from the weight cache besides its model: its LoRA adapters (synced into the pod) and
its speculative draft model (streamed), seeded by ``blueprints.shared.platforms.seed_specs`` like the model."""
from __future__ import annotations

from components.platform import Platform
from strait.catalog import Catalog
from strait.engines import adapter_cache_key, adapter_gib, draft_cache_key


def local_artefacts(key: str, m, cat: Catalog, platform: Platform) -> dict:
    """VllmServiceArgs' ``adapters`` and ``draft`` for model ``key``."""
    arch = cat.models[m.model]
    draft = platform.weights.get(draft_cache_key(key))
    return {"adapters": {n: (platform.weights[adapter_cache_key(key, n)], adapter_gib(arch, a.rank))
                         for n, a in sorted(m.adapters.items())},
            "draft": draft}
