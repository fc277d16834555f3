"""Config sections shared by the blueprints. Pure pydantic: no pulumi imports.

Every field states its default and what it does. Keys of collections (pools, models, tiers) are
names the user chooses; they end up in Kubernetes and cloud resource names, so they must be
DNS-1123 labels.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core.core_schema import ValidationInfo


#: Longest name a user may choose. Strait derives Kubernetes and AWS names from it (`seed-<name>`,
#: `<name>-api-key`, `<stack>-<pool>`), which must be DNS-1123 labels of at most 63 characters; the longest
#: derived name is measured by tests/config/test_names.py against a real plan.
NAME_MAX_CHARS = 30
NAME_PATTERN = rf"^[a-z]([a-z0-9-]{{0,{NAME_MAX_CHARS - 2}}}[a-z0-9])?$"
_NAME_RE = re.compile(NAME_PATTERN)


def _check_name(v: str) -> str:
    if not _NAME_RE.match(v):
        raise ValueError(
            "not a valid name: Strait derives Kubernetes and AWS names from it, which must be DNS-1123 labels of at "
            f"most 63 characters including Strait's prefixes and suffixes || use 1-{NAME_MAX_CHARS} lower-case "
            "letters, digits and '-', starting with a letter and ending with a letter or digit (e.g. qwen32b); "
            "see docs/config-reference.md#names")
    return v


Name = Annotated[
    str,
    AfterValidator(_check_name),
    Field(description=f"A DNS-1123 label of at most {NAME_MAX_CHARS} characters: lower-case letters, digits and '-'."),
]
Capacity = Literal["spot", "on_demand"]
Provider = Literal["anthropic", "openai", "deepseek"]


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are immutable once validated, and numbers are
    finite (`.inf` would disable a budget cap and `Infinity` is not JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NetworkConfig(StrictModel):
    """The VPC. Default: 10.40.0.0/16 over 2 availability zones with one shared NAT gateway."""

    cidr: str = Field("10.40.0.0/16", description="VPC CIDR, a /16 to /20 private range.")
    availability_zones: int = Field(2, ge=2, le=3, description="How many AZs to spread subnets over.")
    nat_gateways: Literal["single", "per_az"] = Field(
        "single", description="'single' saves ~$33/month per AZ; 'per_az' survives the loss of an AZ."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v)
        except ValueError:
            raise ValueError("not a CIDR block || use a private range such as 10.40.0.0/16") from None
        if not net.is_private or not 16 <= net.prefixlen <= 20:
            raise ValueError("the VPC needs a private /16 to /20 range || use a private range such as 10.40.0.0/16")
        return v


class ClusterConfig(StrictModel):
    """The EKS control plane and its system node group."""

    kubernetes_version: str = Field("1.35", description="EKS or GKE minor version (by `cloud`); must be in the catalog "
                                    "(kubernetes.yaml).")
    system_instance_type: str = Field("m7i.large", description="Instance type (AWS) or machine type (GCP, e.g. e2-standard-8) "
                                      "of the system (CPU) node group.")
    system_nodes: int = Field(2, ge=1, le=10, description="Size of the system node group (min = desired; max = +1).")
    api_public_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the public API endpoint. Default: none, the endpoint is private "
        "and `pulumi up` must run from inside the VPC (or over a VPN).",
    )

    @field_validator("api_public_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR block || write CIDRs like 203.0.113.0/24") from None
        return v


class ReservationConfig(StrictModel):
    """Reserved capacity behind a GPU pool (strait/reservations.py, docs/multinode.md). A reservation is billed
    whether a node runs in it or not; the cost report and the spend policy price it that way."""

    kind: Literal["odcr", "capacity_block", "gke"] = Field(
        description="'odcr': an EC2 On-Demand Capacity Reservation (Strait creates it in `zone`, or uses "
        "`existing_id`); 'capacity_block': an EC2 Capacity Block for ML bought ahead (`existing_id` and "
        "`usd_per_hour` required); 'gke': a Compute Engine reservation the GKE node pool consumes. Required.")
    instance_count: int = Field(ge=1, le=100, description="Reserved nodes. Must not exceed the pool's max_size; "
                                "for odcr and gke the pool's min_size must be at least this. Required.")
    zone: str | None = Field(None, pattern=r"^[a-z]{2}-[a-z]+-[0-9][a-z]?(-[a-z])?$|^[a-z]+-[a-z]+[0-9]-[a-z]$",
                             description="Zone of a reservation Strait creates (reservations are zonal), e.g. "
                             "ap-southeast-3a or asia-southeast1-b. Default: none (required when Strait creates it).")
    existing_id: str | None = Field(None, max_length=63, description="An existing reservation to consume instead "
                                    "of creating one: an EC2 `cr-` id or a GCP reservation name. Default: none.")
    usd_per_hour: float | None = Field(None, gt=0, le=1000, description="Price per reserved instance hour when it is "
                                       "not the catalog's on-demand price (a Capacity Block's purchase price). "
                                       "Default: the catalog's on-demand price.")

    def to_reservation(self):
        from strait.reservations import Reservation

        return Reservation(kind=self.kind, instance_count=self.instance_count, zone=self.zone,
                           existing_id=self.existing_id, usd_per_hour=self.usd_per_hour)


class GpuPoolConfig(StrictModel):
    """A GPU node group. Several instance types with the same GPU give spot capacity more pools to draw on."""

    instance_types: list[str] = Field(min_length=1, description="Instance types, all with the same GPU model and count.")
    capacity: Capacity = Field("on_demand", description="'spot' (cheaper, can be reclaimed) or 'on_demand'.")
    min_size: int = Field(1, ge=0, le=100, description="Fewest nodes. Default: 1.")
    max_size: int = Field(2, ge=1, le=100, description="Most nodes; the spend policy prices this worst case. Default: 2.")
    desired_size: int | None = Field(None, ge=0, le=100, description="Initial node count. Default: min_size.")
    disk_size_gib: int = Field(200, ge=50, le=16384, description="Root volume (gp3), holds images and any node-local weights.")
    ami: Literal["al2023_nvidia", "bottlerocket_nvidia"] = Field(
        "al2023_nvidia",
        description="EKS-optimised NVIDIA AMI. AL2023 ships the driver, and Strait installs the NVIDIA device "
        "plugin; Bottlerocket ships both.",
    )
    reservation: ReservationConfig | None = Field(
        None, description="Reserved capacity for this pool (ODCR or Capacity Block on AWS, a reservation on GKE). "
        "Default: none; plain on-demand or spot capacity.")

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


class AdapterConfig(StrictModel):
    """A LoRA adapter, served on its base model's servers under its own model name (the key of `adapters`)."""

    hf_repo: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$",
                         description="Hugging Face repo of the adapter (adapter_config.json + adapter_model.safetensors).")
    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="The adapter's 40-hex commit id. Required: an "
                          "adapter changes what the model says, so a moving branch is never served.")
    rank: int = Field(ge=1, le=512, description="LoRA rank `r` from the adapter's adapter_config.json; the server's "
                      "--max-lora-rank is the smallest vLLM allows above the largest rank.")


class SpeculativeConfig(StrictModel):
    """Speculative decoding (vLLM --speculative-config): a cheap proposer drafts tokens, the model verifies them
    in one step. Pays off when drafts are often right (JSON, code, text that repeats the prompt)."""

    method: Literal["ngram", "eagle", "eagle3", "draft_model", "mtp"] = Field(
        description="ngram: proposals looked up in the prompt (no extra weights); draft_model: a small model of the "
        "same family; eagle / eagle3: a trained draft head; mtp: the model's own multi-token-prediction layers.")
    num_speculative_tokens: int = Field(4, ge=1, le=16, description="Tokens drafted per step. Default: 4.")
    draft_model: str | None = Field(
        None, description="Catalog key of the draft (draft_model only); seeded into the weight cache like the model. "
        "eagle / eagle3 use the head the catalog lists for the model (`speculators:`; EAGLE-3: llama-3.1-8b-instruct). "
        "Default: none.")
    draft_quantization: str = Field("bf16", description="Which checkpoint of the draft model. Default: bf16.")
    draft_revision: str | None = Field(
        None, pattern=r"^[0-9a-f]{40}$", description="The draft checkpoint's (draft model's or EAGLE head's) 40-hex "
        "Hugging Face commit, seeded into the weight cache (required with draft_model, eagle and eagle3: a draft that "
        "moves changes what is accepted). Default: none.")
    ngram_min: int = Field(2, ge=1, le=16, description="ngram: shortest prompt n-gram to match "
                           "(prompt_lookup_min). Default: 2.")
    ngram_max: int = Field(4, ge=1, le=16, description="ngram: longest prompt n-gram to match "
                           "(prompt_lookup_max). Default: 4.")


class RouterConfig(StrictModel):
    """The vLLM router in front of this model's replicas: keeps each conversation on one replica so its prefix
    cache hits (docs/routing.md)."""

    policy: Literal["consistent_hash", "cache_aware"] = Field(
        "consistent_hash", description="'consistent_hash': by the x-session-id header the gateway forwards, the "
        "same session on the same replica, spread over all of them. 'cache_aware': by the prompt's prefix (needs "
        "vLLM's /tokenize; one prefix tree per router replica). Default: consistent_hash.")
    replicas: int = Field(2, ge=1, le=10, description="Router replicas, spread over nodes. consistent_hash routes "
                          "the same on every router replica. Default: 2.")


class ModelConfig(StrictModel):
    """One model served by vLLM or SGLang."""

    engine: Literal["vllm", "sglang"] = Field(
        "vllm", description="Serving engine: 'vllm' (vLLM 0.33.0) or 'sglang' (SGLang 0.5.23: RadixAttention prefix "
        "reuse for agent loops with stable system prompts, DeepSeek-family models). Same pod, probes and weight "
        "cache; only the command line differs. Default: vllm.")
    model: str = Field(description="Catalog key, e.g. qwen2.5-32b-instruct (see `strait catalog models`).")
    quantization: str = Field("bf16", description="Which checkpoint: bf16, awq, fp8 ... as the catalog lists.")
    pool: Name = Field(description="Key of the GPU pool to run on.")
    replicas: int = Field(1, ge=1, le=64, description="Model server replicas, each on its own node. Default: 1, no HA.")
    nodes: int = Field(1, ge=1, le=16, description="Nodes one replica spans: vLLM's multi-node mode on a "
                       "LeaderWorkerSet, one pipeline stage per node, each running tensor_parallel_size GPUs (all of "
                       "the node's). Needs engine vllm; the layer count must split evenly. Default: 1, one node.")
    max_model_len: int = Field(ge=256, description="vLLM --max-model-len: longest prompt + completion, in tokens.")
    gpu_memory_utilization: float = Field(0.90, gt=0.3, le=0.98, description="vLLM --gpu-memory-utilization.")
    max_num_seqs: int | None = Field(
        None, ge=1, le=4096, description="vLLM --max-num-seqs: concurrent sequences per replica. Default: derived from "
        "the KV-cache planner, as many sequences of max_model_len tokens as fit in one replica's KV cache at once "
        "(strait.sizing.max_num_seqs_that_fit), so no admitted request is preempted; set it higher to admit more "
        "short requests at the risk of preemption when many are long.")
    tensor_parallel_size: int = Field(1, description="GPUs per replica (1, 2, 4 or 8).")
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="'fp8' halves KV memory; needs Ada/Hopper GPUs.")
    enable_prefix_caching: bool = Field(True, description="vLLM automatic prefix caching (on by default upstream too).")
    served_model_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
        description="Name clients use, e.g. Qwen/Qwen2.5-32B-Instruct-AWQ: letters, digits and . _ : / - (it lands "
        "in the engine's argv, the gateway's routing and the alert rules' label matchers). Default: the key of "
        "this model.")
    revision: str = Field("main", description="Hugging Face revision to seed into the weight cache: a branch or tag "
                          "name, or a 40-hex commit id; pin a commit for production. Default: main.")
    shutdown_timeout_seconds: int = Field(60, ge=0, le=3600, description="vLLM --shutdown-timeout: drain time for in-flight requests.")
    startup_timeout_seconds: int | None = Field(
        None, ge=60, le=7200, description="Startup probe budget. Default: 5 min + 20 s per GiB of weights per GPU."
    )
    tool_calling: bool | None = Field(
        None, description="Serve OpenAI `tools` / `tool_choice` with the engine's tool-call parser for this model "
        "(the catalog's `engines.<engine>.tool_call_parser`). true: required, an error if the catalog has no parser; "
        "false: off, requests with `tools` get the engine's 400. Default: on where the catalog has a parser.")
    reasoning: bool | None = Field(
        None, description="Split the model's <think> output into `reasoning_content` with the engine's reasoning "
        "parser (the catalog's `engines.<engine>.reasoning_parser`). true: required; false: off. Default: on where "
        "the catalog has a parser.")
    adapters: dict[Name, AdapterConfig] = Field(
        default_factory=dict, max_length=64, description="LoRA adapters served by this model's servers (vLLM only), "
        "keyed by the model name clients send. Each is seeded into the weight cache and copied into the pod from "
        "it. Default: none.")
    max_loras: int | None = Field(
        None, ge=1, le=64, description="vLLM --max-loras: adapters in one batch; each slot holds GPU memory for a "
        "rank --max-lora-rank adapter. Default: the number of adapters, at most 4.")
    speculative: SpeculativeConfig | None = Field(
        None, description="Speculative decoding (vLLM only). Default: off.")
    router: RouterConfig | None = Field(
        None, description="Put the vLLM router between the gateway and this model's replicas, for sticky, "
        "prefix-aware routing. Default: none; the gateway calls the model's Service, which spreads connections "
        "over replicas with no regard for sessions.")
    mem_fraction_static: float | None = Field(
        None, gt=0.3, lt=0.98, description="SGLang only: --mem-fraction-static, the share of GPU memory for weights "
        "and KV cache together (activations and CUDA graphs use the rest; gpu_memory_utilization is vLLM's). "
        "Default: 0.85.")

    @field_validator("tensor_parallel_size")
    @classmethod
    def _tp(cls, v: int) -> int:
        if v not in (1, 2, 4, 8):
            raise ValueError("tensor parallelism must be a power of two up to 8 || use 1, 2, 4 or 8")
        return v

    @field_validator("revision")
    @classmethod
    def _revision(cls, v: str) -> str:
        problem = hf_revision_problem(v)
        if problem:
            raise ValueError(f"{problem} || use a branch or tag name (main, v1.0) or a 40-hex commit id")
        return v


class ProviderModelConfig(StrictModel):
    """A commercial model behind the gateway."""

    provider: Provider
    model: str = Field(description="Provider model id, e.g. claude-sonnet-4-5, gpt-5-mini, deepseek-chat.")
    weight: int = Field(1, ge=1, le=100, description="Share of the tier's traffic against its other deployments. Default: 1.")
    rpm: int | None = Field(None, ge=1, description="Requests per minute this key may send. Default: no gateway-side limit.")
    tpm: int | None = Field(None, ge=1, description="Tokens per minute this key may send. Default: no gateway-side limit.")
    max_input_tokens: int | None = Field(
        None, ge=256, description="Context window, for routing over-long prompts. Default: unknown (assumed large enough).")


class TierConfig(StrictModel):
    """A gateway tier: a model group clients can name directly."""

    models: list[Name] = Field(default_factory=list, description="Keys of self-hosted models serving this tier.")
    providers: list[ProviderModelConfig] = Field(default_factory=list, description="Commercial models serving this tier.")
    fallbacks: list[Name] = Field(default_factory=list, description="Tiers to try, in order, when this one fails, times "
                                  "out, is rate-limited or overflows. Default: none (the request fails).")
    context_window_fallbacks: list[Name] = Field(
        default_factory=list, description="Tiers to try, in order, when a prompt exceeds this tier's context window. "
        "Default: none.")
    timeout_seconds: float = Field(60, gt=0, le=600, description="Per-attempt timeout for this tier. Default: 60 s.")
    stream_timeout_seconds: float | None = Field(
        None, gt=0, le=600, description="Time allowed to the first streamed chunk. Default: timeout_seconds.")
    max_input_tokens: int | None = Field(
        None, ge=256, description="The tier's context window. Default: the smallest of its models' max_model_len "
        "and its providers' max_input_tokens.")
    weight: int = Field(1, ge=1, le=100, description="Share of traffic each self-hosted model of this tier gets, "
                        "times its replicas. Default: 1 (traffic follows replica count).")
    overflow_queue_depth: float | None = Field(
        None, ge=0, le=10000, description="Queue-aware overflow: while the engines' real waiting queue "
        "(vllm:num_requests_waiting, sglang:num_queue_reqs, read by the gateway from their /metrics about once a "
        "second), averaged per replica over the tier's models, is deeper than this, new requests go to overflow_to. "
        "Needs self-hosted models. Default: off (only the static overflow_queue_factor cap overflows).")
    overflow_to: Name | None = Field(
        None, description="Tier that takes the overflow (a tier with providers). Default: the first of fallbacks "
        "that has providers.")


class RetryPolicyConfig(StrictModel):
    """Retries on a last-resort tier (one without fallbacks), per error type, with exponential backoff.
    Tiers with fallbacks never retry: they fail over at once."""

    timeout: int = Field(1, ge=0, le=5, description="Retries after a timeout. Default: 1.")
    rate_limit: int = Field(
        0, ge=0, le=5, description="Retries after a 429, each after the upstream's Retry-After (up to 60 s). Default: 0: "
        "a 429 here means every tier is throttled, so the client gets it at once with the upstream's Retry-After and "
        "waits in its own backoff, rather than the gateway holding the connection and multiplying attempts.")
    internal_server_error: int = Field(2, ge=0, le=5, description="Retries after a 500. Default: 2.")
    service_unavailable: int = Field(2, ge=0, le=5, description="Retries after a 503. Default: 2.")
    default: int = Field(1, ge=0, le=5, description="Retries after any other retryable error (e.g. connection). Default: 1.")


class RoutingConfig(StrictModel):
    """The `auto` model: a rule-based classifier picks the tier (strait/gateway/routing.py)."""

    auto_model: str = Field("auto", pattern=r"^[a-z][a-z0-9._-]{0,62}$",
                            description="Model name clients send to be routed. Default: auto.")
    ladder: list[Name] = Field(min_length=1, description="Tiers from cheapest to most capable. A request's complexity "
                               "score (0, 1, 2, ...) picks that rung, capped at the top.")
    long_context_tier: Name | None = Field(None, description="Tier for prompts that exceed the chosen rung's window. "
                                           "Default: the next rung up that fits.")
    long_prompt_tokens: int = Field(4000, ge=1, description="Prompts this long (estimated tokens) score +1. Default: 4000.")
    many_tools: int = Field(4, ge=1, description="Requests with this many tools score +1. Default: 4.")
    large_max_tokens: int = Field(4096, ge=1, description="A max_tokens this large scores +1. Default: 4096.")
    reasoning_cues: list[str] | None = Field(
        None, description="Regex words in the last user message that ask for reasoning. Default: Strait's list "
        "(step by step, prove, derive, debug, ...).")
    reasoning_cue_weight: int = Field(2, ge=0, le=10, description="Score of a reasoning cue or reasoning_effort. Default: 2.")
    chars_per_token: float = Field(4.0, gt=1, le=10, description="Token estimate: characters per token. Default: 4.")
    default_completion_tokens: int = Field(1024, ge=1, description="Output assumed when max_tokens is unset. Default: 1024.")


_NAMESPACE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _check_namespace(v: str) -> str:
    if not _NAMESPACE_RE.match(v):
        raise ValueError(
            "not a Kubernetes namespace name (a DNS-1123 label) || use 1-63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, as the namespace is named in the cluster (e.g. team-a)")
    return v


NamespaceName = Annotated[
    str,
    AfterValidator(_check_namespace),
    Field(description="A Kubernetes namespace name (DNS-1123 label): at most 63 characters of lower-case letters, "
          "digits and '-', starting and ending with a letter or digit."),
]


class TeamConfig(StrictModel):
    """One team of the gateway's users: its own virtual keys, a monthly budget and rate limits, enforced by LiteLLM
    from its Postgres database (docs/teams.md). Created and kept in step at deploy time; keys are issued on request
    and never stored by Strait."""

    monthly_budget_usd: float = Field(
        gt=0, le=1_000_000, description="Spend the team may reach per calendar month, in USD, across all its keys. "
        "Past it LiteLLM refuses the team's requests (HTTP 422, budget_exceeded) until the month resets. Required.")
    rpm_limit: int | None = Field(None, ge=1, le=1_000_000, description="Requests per minute for the whole team, "
                                  "counted across every gateway replica (in Redis). Default: no team limit.")
    tpm_limit: int | None = Field(None, ge=1, le=1_000_000_000, description="Tokens per minute for the whole team, "
                                  "counted across every gateway replica. Default: no team limit.")
    models: list[str] = Field(min_length=1, max_length=50, description="Model names the team may call: tiers of "
                              "gateway.tiers, or the routing auto model. Required.")


class GatewayConfig(StrictModel):
    """The LiteLLM gateway."""

    replicas: int = Field(2, ge=1, le=20, description="Gateway replicas, and the minimum its HPA keeps. Default: 2 (HA); "
                          ">1 adds Redis for shared router state.")
    tiers: dict[Name, TierConfig] = Field(min_length=1, description="Tiers keyed by the model name clients send.")
    routing: RoutingConfig | None = Field(None, description="The auto model. Default: off; clients name a tier.")
    num_retries: int = Field(1, ge=0, le=5, description="Retries for errors retry_policy does not name. Default: 1.")
    retry_policy: RetryPolicyConfig = Field(default_factory=RetryPolicyConfig)
    allowed_fails: int = Field(
        0, ge=0, le=10, description="Failures a deployment may have within cooldown_seconds before it is skipped for "
        "cooldown_seconds. Default: 0, so a dead tier costs one failed attempt per window, not one per request.")
    cooldown_seconds: int = Field(30, ge=1, le=3600, description="How long a failed deployment is skipped. Default: 30.")
    request_deadline_seconds: float = Field(
        300, gt=0, le=3600, description="One deadline per client request, across every tier, retry and fallback: each "
        "attempt gets at most the time left, and the client gets a 504 once it has passed. Must be at least every "
        "tier's timeout_seconds and stream_timeout_seconds. A stream that has started is not cut by it. Default: 300 s.")
    peak_requests_per_second: float = Field(
        100, gt=0, le=100000, description="Peak request rate the gateway must absorb. With the measured capacity of "
        "one LiteLLM worker (strait/catalog/data/gateway_capacity.yaml) it sizes the HPA's maximum. Default: 100.")
    max_replicas: int | None = Field(
        None, ge=1, le=100, description="Upper bound of the gateway's HorizontalPodAutoscaler. Default: enough replicas "
        "for peak_requests_per_second at target_cpu_utilization_percent, and never fewer than replicas.")
    target_cpu_utilization_percent: int = Field(
        70, ge=10, le=100, description="Average CPU use, as a share of cpu_request, that the HPA keeps the gateway's "
        "replicas at. Default: 70.")
    overflow_queue_factor: float = Field(
        1.0, ge=0, le=10, description="Requests allowed to queue in vLLM beyond its running batch, as a multiple of "
        "replicas x max_num_seqs, before new ones overflow to the tier's fallbacks. Default: 1.0.")
    spend_tracking: bool = Field(
        False, description="Keep spend logs in Postgres (needs the secret strait:litellm_database_url). Default: off.")
    teams: dict[Name, TeamConfig] = Field(
        default_factory=dict, max_length=200, description="Teams keyed by name, each with its own keys, monthly "
        "budget, rate limits and models (docs/teams.md). Needs spend_tracking: true (LiteLLM keeps teams, keys and "
        "spend in Postgres). Default: none; the master key is the only key.")
    client_namespaces: list[NamespaceName] = Field(
        default_factory=list, max_length=50,
        description="Namespaces whose pods may call the gateway's API port (4000); a NetworkPolicy admits no other. "
        "Default: none, so only `kubectl port-forward` reaches the gateway until you name your clients' namespaces.")
    metrics_require_auth: bool = Field(
        True, description="/metrics needs a LiteLLM key (it names keys, teams and spend). Default: true.")
    cpu_request: str = Field("500m", pattern=r"^\d+(\.\d+)?m?$", description="CPU request per replica. Default: 500m.")
    memory_request: str = Field("1Gi", pattern=r"^\d+(Mi|Gi)$", description="Memory request per replica. Default: 1Gi.")
    memory_limit: str = Field("2Gi", pattern=r"^\d+(Mi|Gi)$", validate_default=True,  # checked against the request
                              description="Memory limit per replica. Default: 2Gi.")

    @field_validator("cpu_request")
    @classmethod
    def _cpu(cls, v: str) -> str:
        if cpu_millicores(v) < 1:
            raise ValueError("a CPU request of 0 reserves no CPU: under load the gateway is throttled first and its "
                             "probes time out || request at least 100m (default 500m)")
        return v

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str, info: ValidationInfo) -> str:
        request = info.data.get("memory_request")  # absent when the request itself was invalid
        if request and memory_mib(request) > memory_mib(v):
            raise ValueError(f"below memory_request ({request}); Kubernetes rejects a request larger than its limit "
                             f"|| raise memory_limit to {request} or more, or lower memory_request")
        return v

    @model_validator(mode="after")
    def _teams(self) -> "GatewayConfig":
        """Teams name models the gateway serves, and need the database that holds them."""
        from strait.config.errors import ConfigIssue, issues_error

        issues: list[ConfigIssue] = []
        if self.teams and not self.spend_tracking:
            issues.append(ConfigIssue("spend_tracking", False, "teams need LiteLLM's Postgres database (teams, keys, "
                                      "budgets and spend live there), and spend_tracking is off",
                                      "set gateway.spend_tracking: true, or remove gateway.teams"))
        known = set(self.tiers) | ({self.routing.auto_model} if self.routing else set())
        for team, cfg in sorted(self.teams.items()):
            for i, model in enumerate(cfg.models):
                if model not in known:
                    issues.append(ConfigIssue(f"teams.{team}.models[{i}]", model, "not a model this gateway serves",
                                              f"use one of: {', '.join(sorted(known))}"))
            if len(set(cfg.models)) != len(cfg.models):
                issues.append(ConfigIssue(f"teams.{team}.models", cfg.models, "lists a model twice",
                                          "name each model once"))
        issues += self._overflow_issues(ConfigIssue)
        if issues:
            raise issues_error(issues)
        return self

    def overflow_target(self, tier: str) -> str | None:
        """The tier that takes ``tier``'s queue-aware overflow, or None when it has none."""
        t = self.tiers[tier]
        if t.overflow_queue_depth is None:
            return None
        if t.overflow_to is not None:
            return t.overflow_to
        return next((fb for fb in t.fallbacks if fb in self.tiers and self.tiers[fb].providers), None)

    def _overflow_issues(self, ConfigIssue) -> list:  # noqa: N803 - the class, imported lazily like _teams does
        issues = []
        for name, t in sorted(self.tiers.items()):
            field = f"tiers.{name}"
            if t.overflow_queue_depth is None:
                if t.overflow_to is not None:
                    issues.append(ConfigIssue(f"{field}.overflow_to", t.overflow_to, "has no effect without "
                                              "overflow_queue_depth", f"set gateway.{field}.overflow_queue_depth "
                                              "(waiting requests per replica), or remove overflow_to"))
                continue
            if not t.models:
                issues.append(ConfigIssue(f"{field}.overflow_queue_depth", t.overflow_queue_depth, "the tier has no "
                                          "self-hosted models, so there is no engine queue to read",
                                          "set it only on a tier with models"))
                continue
            target = self.overflow_target(name)
            if t.overflow_to is not None and (t.overflow_to == name or t.overflow_to not in self.tiers
                                             or not self.tiers[t.overflow_to].providers):
                commercial = sorted(k for k, v in self.tiers.items() if v.providers and k != name)
                issues.append(ConfigIssue(f"{field}.overflow_to", t.overflow_to, "not another tier with providers",
                                          f"name a commercial tier: one of {', '.join(commercial)}" if commercial
                                          else "add a tier with providers and name it"))
            elif target is None:
                issues.append(ConfigIssue(f"{field}.overflow_queue_depth", t.overflow_queue_depth, "no tier to "
                                          "overflow to: none of its fallbacks has providers",
                                          f"set gateway.{field}.overflow_to to a commercial tier, or add one to "
                                          "its fallbacks"))
        return issues


class WeightCacheConfig(StrictModel):
    """The S3 weight cache. Model servers stream weights from it and never from the hub."""

    seed: bool = Field(True, description="Run a one-off Job per model that copies it from Hugging Face into the cache.")
    force_destroy: bool = Field(False, description="Allow `pulumi destroy` to delete a bucket that still holds weights.")


class AutoscalerConfig(StrictModel):
    """Cluster Autoscaler for the GPU pools. Default: on, spot pools first, on-demand as fallback (docs/autoscaling.md)."""

    enabled: bool = Field(True, description="Deploy Cluster Autoscaler; without it pools stay at their initial size. "
                          "Default: true.")
    scale_down_unneeded_minutes: int = Field(
        10, ge=1, le=1440, description="Minutes a node must be unneeded before it is removed; GPU nodes take minutes "
        "to boot and load weights, so keep it above a short lull. Default: 10.")



Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class BusinessHoursConfig(StrictModel):
    """When the stack's users are at work, in the stack's own time zone: the cron floor's window. KEDA opens it
    ahead of `start` by the cold start plus node_provision_seconds (docs/autoscaling.md#keda)."""

    timezone: str = Field(description="IANA time zone of the users, e.g. Asia/Jakarta, Asia/Singapore, Asia/Bangkok. "
                          "Required: the cron trigger runs in it, with its own daylight-saving rules.")
    start: str = Field("09:00", description="When the peak starts, HH:MM (24 h). Default: 09:00.")
    end: str = Field("18:00", description="When it ends, HH:MM, later the same day. Default: 18:00.")
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1, max_length=7,
                                description="Business days. Default: mon to fri.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from strait.render.keda import timezone_problem

        problem = timezone_problem(v)
        if problem:
            raise ValueError(f"{problem}; KEDA's cron trigger could not load it and would never fire || use a name "
                             "from the tz database such as Asia/Jakarta, Asia/Singapore, Asia/Bangkok or UTC")
        return v

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not isinstance(v, str) or not re.match(_HHMM, v):
            raise ValueError("not a time of day || write it as 24-hour HH:MM, e.g. 09:00 or 18:30")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists a day twice || name each business day once")
        return v

    @model_validator(mode="after")
    def _window(self) -> "BusinessHoursConfig":
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}; windows across midnight are not "
                             "supported || set end later than start on the same day")
        return self


class ModelAutoscalingConfig(StrictModel):
    """Queue-depth autoscaling of one model server (a KEDA ScaledObject): the engine's own waiting-queue metric,
    a business-hours floor and a warm standby."""

    min_replicas: int = Field(1, ge=1, le=64, description="Warm standby: replicas kept at every hour. At least 1, "
                              "since a cold start takes minutes. Default: 1.")
    max_replicas: int = Field(ge=1, le=64, description="Most replicas; each takes one node of the model's pool, so "
                              "the pool's max_size must hold them, and the spend cap prices them.")
    queue_per_replica: float = Field(
        4, gt=0, le=1000, description="Waiting requests per replica before another is added (the Prometheus "
        "trigger's threshold; KEDA's HPA divides the total queue by it). Default: 4.")
    business_hours_replicas: int | None = Field(
        None, ge=1, le=64, description="Replicas held through business hours (the cron floor). Default: "
        "min_replicas + 1 (at most max_replicas) when the section sets business_hours, else no floor.")
    scale_down_stabilization_seconds: int = Field(
        600, ge=300, le=3600, description="The HPA scales down only to the highest replica count recommended in "
        "this window. At least 300 s. Default: 600.")
    polling_interval_seconds: int = Field(15, ge=5, le=300, description="How often KEDA reads the queue. Default: 15.")

    @model_validator(mode="after")
    def _bounds(self) -> "ModelAutoscalingConfig":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas} || raise "
                             "max_replicas or lower min_replicas")
        floor = self.business_hours_replicas
        if floor is not None and not self.min_replicas <= floor <= self.max_replicas:
            raise ValueError(f"business_hours_replicas {floor} is outside min_replicas {self.min_replicas} .. "
                             f"max_replicas {self.max_replicas} || set it between the two")
        return self


class QueueAutoscalingConfig(StrictModel):
    """KEDA autoscaling of model servers on their queue depth, with a cron floor in business hours and a warm
    standby (docs/autoscaling.md#keda). GPU nodes follow the pods through the cloud's node autoscaler."""

    models: dict[Name, ModelAutoscalingConfig] = Field(
        min_length=1, description="Autoscaled models, keyed by the stack's model key. A model not listed keeps its "
        "fixed replicas.")
    business_hours: BusinessHoursConfig | None = Field(
        None, description="The stack's business hours. Default: none, no cron floor.")
    node_provision_seconds: int = Field(
        600, ge=0, le=3600, description="Seconds a new GPU node takes to join the cluster and pull the engine image; "
        "the cron window opens this much plus the model's cold start (its startup budget) plus a minute ahead of "
        "business hours. Default: 600.")

    @model_validator(mode="after")
    def _floor_needs_hours(self) -> "QueueAutoscalingConfig":
        lonely = sorted(k for k, m in self.models.items() if m.business_hours_replicas is not None)
        if lonely and self.business_hours is None:
            raise ValueError(f"models {', '.join(lonely)} set business_hours_replicas but there are no business_hours "
                             "|| add business_hours (timezone, start, end, days) or remove business_hours_replicas")
        return self

# --- value checks shared by the sections ------------------------------------------------------------
_REF_CHARS = re.compile(r"[^A-Za-z0-9._/-]")


def hf_revision_problem(v: str) -> str | None:
    """Why ``v`` is not a safe Hugging Face revision (branch, tag or commit), or None.

    The revision becomes part of an object-store path and a Job's argument, so anything that could
    climb out of the model's folder or mean something to a shell is refused, not escaped.
    """
    if not v.strip():
        return "an empty revision names nothing: the seeding Job would fail and the model pods wait forever"
    bad = sorted(set(_REF_CHARS.findall(v)))
    if bad:
        return (f"contains {', '.join(repr(c) for c in bad)}: a revision holds only letters, digits and . _ / - "
                "(no spaces or shell metacharacters)")
    if ".." in v:
        return "contains '..', which would reach outside the model's folder in the weight cache"
    if v.startswith("/") or v.endswith("/") or "//" in v:
        return "starts or ends with '/' or has an empty part between two '/'"
    if v.startswith(("-", ".")) or v.endswith((".", ".lock")) or "/." in v:
        return "starts with '-' or '.', or ends with '.' or '.lock', which git refs cannot"
    if len(v) > 255:
        return f"is {len(v)} characters long; git refs are at most 255"
    return None


def cpu_millicores(q: str) -> float:
    """A Kubernetes CPU quantity as the section patterns allow it ("500m", "1", "0.5") -> millicores."""
    return float(q[:-1]) if q.endswith("m") else float(q) * 1000


def memory_mib(q: str) -> int:
    """A memory quantity as the section patterns allow it ("512Mi", "2Gi") -> MiB."""
    return int(q[:-2]) * (1024 if q.endswith("Gi") else 1)
