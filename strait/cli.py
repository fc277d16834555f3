"""`strait`: the toolkit CLI. `strait plan --stack phase1-sg` runs the offline plan."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_POLICY, EXIT_CONFIG = 0, 1, 2


def _plan(args: argparse.Namespace) -> int:
    from strait.catalog import PRICE_MAX_AGE_DAYS, load_catalog
    from strait.config import PROVIDER_SECRET, SECRET_KEYS, ConfigError, validate_stack
    from strait.cost import estimate
    from strait.plan import run_plan
    from strait.plan.artefacts import find_leaks, write_artefacts
    from strait.plan.stackfile import StackFileError, find_project_dir, load_stack_config, with_placeholders
    from strait.plan.summary import render_summary

    try:
        project_dir = Path(args.project_dir).resolve() if args.project_dir else find_project_dir()
        stack_cfg = load_stack_config(project_dir, args.stack)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.path.insert(0, str(project_dir))
    raw = stack_cfg.namespace()
    present = {k for k in SECRET_KEYS if k in raw}
    secret = {k for k in present if f"strait:{k}" in stack_cfg.secret_keys}
    # Offline, provider keys that are not set are planned with placeholder secrets (and listed as such).
    offline_keys = set(PROVIDER_SECRET.values()) - present
    try:
        cfg = validate_stack(raw, args.stack, secrets_set=secret | offline_keys, plaintext_secrets=present - secret)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_CONFIG
    needed = {PROVIDER_SECRET[p.provider] for t in cfg.gateway.tiers.values() for p in t.providers}
    stack_cfg = with_placeholders(stack_cfg, sorted(needed - present))

    cat = load_catalog()
    plan = run_plan(stack_cfg, cfg, region=cfg.region)
    out_dir = Path(args.out) / args.stack
    write_artefacts(plan, out_dir)
    notes: list[str] = []
    problems: list[str] = []

    # Pulumi.yaml disables default providers: a resource without an explicit one would fail `pulumi up`.
    defaults = sorted(r.name for r in plan.resources
                      if r.custom and not r.is_provider and (not r.provider or "::default_" in r.provider))
    if defaults:
        problems.append(f"resources without an explicit provider ({', '.join(defaults)}); pass providers down")
    secrets = [v for k, v in stack_cfg.values.items() if k in stack_cfg.secret_keys and isinstance(v, str)]
    secrets += [f"mock-random-{r.name}-" for r in plan.by_type("random:index/randomPassword:RandomPassword")]
    leaks = find_leaks(out_dir, secrets)
    if leaks:
        problems.append(f"secret values appear in plain text in: {', '.join(sorted(set(leaks)))}")

    used = {t for r in plan.by_type("aws:eks/nodeGroup:NodeGroup") for t in r.inputs.get("instanceTypes") or []}
    for name, region, price in cat.stale_prices():
        if name in used and region == cfg.region:
            notes.append(f"WARNING: the price of {name} in {region} is dated {price.as_of}, more than "
                         f"{PRICE_MAX_AGE_DAYS} days ago; refresh strait/catalog/data.")
    cost = estimate(plan.resources, cfg.region, cat)
    print(render_summary(plan, cost, str(out_dir), extra=notes))
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return EXIT_POLICY
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strait", description="Strait toolkit: offline plan, reports, catalog.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="Run the Pulumi program offline under mocks and write its artefacts.")
    p.add_argument("--stack", required=True, help="Stack name, e.g. phase1-sg (reads stacks/Pulumi.<stack>.yaml).")
    p.add_argument("--out", default="out", help="Output directory (default: out/); files go to OUT/<stack>/.")
    p.add_argument("--project-dir", default=None, help="Project directory (default: the nearest with Pulumi.yaml).")
    p.set_defaults(func=_plan)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
