"""`strait`: the toolkit CLI. `strait plan --stack phase1-sg` runs the offline plan; `strait report` prints its reports.

Exit codes: 0 clean, 1 a mandatory policy is violated (or a secret leaks / a default provider is used),
2 invalid stack or policy config.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_POLICY, EXIT_CONFIG = 0, 1, 2


class _Exit(Exception):
    def __init__(self, code: int):
        self.code = code


def _load_stack(args: argparse.Namespace):
    """Read and validate the stack's config, printing every error; raise _Exit(2) on bad input.

    Offline, provider keys the stack does not set are filled with placeholder secrets (and listed as such).
    """
    from strait.config import PROVIDER_SECRET, SECRET_KEYS, ConfigError, validate_stack
    from strait.plan.stackfile import StackFileError, find_project_dir, load_stack_config, with_placeholders

    try:
        project_dir = Path(args.project_dir).resolve() if args.project_dir else find_project_dir()
        stack_cfg = load_stack_config(project_dir, args.stack, collect=True)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise _Exit(EXIT_CONFIG) from None
    file_error = stack_cfg.problems_error()  # reported with the config's own errors, not instead of them
    if file_error:
        print(f"error: {file_error}", file=sys.stderr)
    sys.path.insert(0, str(project_dir))
    raw = stack_cfg.namespace()
    present = {k for k in SECRET_KEYS if k in raw}
    secret = {k for k in present if f"strait:{k}" in stack_cfg.secret_keys}
    offline_keys = (set(PROVIDER_SECRET.values()) | alerting_secrets(raw)) - present
    prefix = "strait:"
    try:
        cfg = validate_stack(raw, args.stack, secrets_set=secret | offline_keys, plaintext_secrets=present - secret,
                             secret_paths={k[len(prefix):] for k in stack_cfg.secret_keys if k.startswith(prefix)},
                             foreign={k: v for k, v in stack_cfg.values.items() if not k.startswith(prefix)})
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        raise _Exit(EXIT_CONFIG) from None
    if file_error:
        raise _Exit(EXIT_CONFIG)
    needed = {PROVIDER_SECRET[p.provider] for t in cfg.gateway.tiers.values() for p in t.providers}
    needed |= alerting_secrets(raw)
    return with_placeholders(stack_cfg, sorted(needed - present)), cfg


def alerting_secrets(raw: dict) -> set[str]:
    """The receivers' secrets a stack's ``observability.alerting`` turns on: offline, placeholders stand in for them
    as for the providers' keys (a real stack sets them with `pulumi config set --secret`)."""
    obs = raw.get("observability")
    alerting = obs.get("alerting") if isinstance(obs, dict) else None
    if not isinstance(alerting, dict):
        return set()
    return ({"pagerduty_routing_key"} if alerting.get("pagerduty") is True else set()) | (
        {"slack_webhook_url"} if alerting.get("slack_channel") else set())


def _plan(args: argparse.Namespace) -> int:
    from strait.catalog import load_catalog
    from strait.cost import estimate
    from strait.plan import run_plan
    from strait.plan.artefacts import find_leaks, write_artefacts
    from strait.plan.summary import render_summary

    try:
        stack_cfg, cfg = _load_stack(args)
    except _Exit as exc:
        return exc.code

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

    # Stale prices are reported by the strait-gpu-price-fresh policy, with the rest of the findings.
    cost = estimate(plan.resources, cfg.region, cat)
    try:
        code = _policy_reports(args, plan, cfg, cat, cost, out_dir, problems, notes, stack_cfg)
    except _ReportConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(render_summary(plan, cost, str(out_dir), extra=notes))
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
    return code


class _ReportConfigError(Exception):
    pass


def _policy_reports(args, plan, cfg, cat, cost, out_dir: Path, problems: list[str], notes: list[str], stack_cfg) -> int:
    """Run the policy rules offline, write cost.json and the policy reports; return the exit code."""
    import json

    from policies import harness, views
    from policies.rules import RULES, Ctx, gpu_spend_totals
    from strait import report
    from strait.cost import diff, load_cost_json

    budget = getattr(cfg, "monthly_budget_usd", None)
    pack_config = harness.stack_policy_config(budget)
    if args.policy_config:
        try:
            user = json.loads(Path(args.policy_config).read_text())
        except (OSError, ValueError) as exc:
            raise _ReportConfigError(f"--policy-config {args.policy_config}: {exc}") from None
        for k, val in user.items():
            base = pack_config.get(k)
            pack_config[k] = {**base, **(val if isinstance(val, dict) else {"enforcementLevel": val})} if base else val
    try:
        resolved = harness.resolve_config(pack_config)
    except harness.PolicyConfigError as exc:
        raise _ReportConfigError(f"policy config: {exc}") from None
    resources = views.from_plan_records(plan.resources)
    events = [e.as_json() for e in harness.evaluate(resources, resolved, ctx=Ctx(catalog=cat, today=args.today))]
    mandatory = [e for e in events if e["enforcementLevel"] == "mandatory"]
    code = EXIT_POLICY if (mandatory or problems) else EXIT_OK
    spend = gpu_spend_totals(resources, cat, resolved["strait-gpu-spend-monthly-cap"][1]["hours_per_month"])
    rules = [{"name": r.name, "description": r.description, "severity": r.severity,
              "enforcementLevel": resolved[r.name][0], "remediation": r.remediation} for r in RULES]
    stack_file = next((str(f.relative_to(stack_cfg.project_dir))
                       for f in stack_cfg.project_dir.glob(f"*/Pulumi.{args.stack}.yaml")), None)
    doc = report.build_policy_doc(
        stack=args.stack, region=cfg.region, events=events, rules=rules, exit_code=code, problems=problems,
        stack_file=stack_file,
        gpu_spend={"worstMonthlyUsd": spend["worst_monthly_usd"], "expectedMonthlyUsd": spend["expected_monthly_usd"],
                   "monthlyBudgetUsd": budget, "unknownPools": len(spend["unknown"])})
    cost_doc = cost.as_json(stack=args.stack)
    cost_diff = None
    if args.compare_to:
        try:
            cost_diff = diff(load_cost_json(args.compare_to, args.stack), cost_doc)
        except (OSError, ValueError) as exc:
            raise _ReportConfigError(f"--compare-to {args.compare_to}: {exc}") from None
        cost_doc["diff"] = cost_diff
    files = {
        "cost.json": json.dumps(cost_doc, indent=2, sort_keys=True) + "\n",
        "policy-config.json": json.dumps(pack_config, indent=2, sort_keys=True) + "\n",
        report.FILES["json"]: report.render_json(doc),
        report.FILES["md"]: report.render_markdown(doc, cost_doc, cost_diff),
        report.FILES["sarif"]: report.render_sarif(doc),
    }
    for name, text in files.items():
        (out_dir / name).write_text(text)
    notes.append("")
    # Advisory findings the stack file accepts (strait:accepted_advisories) are shown with their reason.
    accepted = getattr(cfg, "accepted_advisories", None) or {}
    is_accepted = lambda e: e["enforcementLevel"] == "advisory" and e["policyName"] in accepted  # noqa: E731
    n_accepted = sum(1 for e in events if is_accepted(e))
    notes.append(f"Policies: {len(mandatory)} mandatory, {len(events) - len(mandatory) - n_accepted} advisory "
                 f"violation(s)" + (f", {n_accepted} accepted advisory finding(s)" if n_accepted else "")
                 + f" ({len(RULES)} policies; exit {code})")
    for e in events:
        level = "advisory, accepted" if is_accepted(e) else e["enforcementLevel"]
        notes.append(f"  [{level}] {e['policyName']}: {' '.join(e['message'].split())}")
        if is_accepted(e):
            notes.append(f"    accepted by the stack file: {' '.join(accepted[e['policyName']].split())}")
    if cost_diff is not None:
        notes.append(f"Cost change vs {args.compare_to}: ${cost_diff['diffTotalMonthlyCost']:+,.2f}/month expected, "
                     f"${cost_diff['diffTotalMonthlyCostMax']:+,.2f}/month at max size")
    return code


def _report(args: argparse.Namespace) -> int:
    """Print a report `strait plan` wrote; plan first when there is none yet."""
    import json

    from strait.report import FILES

    if args.all_stacks or not args.stack:
        return _report_all(args)
    path = Path(args.out) / args.stack / FILES[args.format]
    if not path.is_file() or args.refresh:
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = _plan(argparse.Namespace(stack=args.stack, out=args.out, project_dir=args.project_dir,
                                            compare_to=args.compare_to, policy_config=args.policy_config,
                                            today=args.today))
        if not path.is_file():
            return code
    sys.stdout.write(path.read_text())
    return int(json.loads(path.with_name(FILES["json"]).read_text()).get("exitCode", EXIT_OK))


def _report_all(args: argparse.Namespace) -> int:
    """`strait report --all-stacks`: ONE Markdown comment from the reports `strait plan` wrote for every stack file
    (a section per stack); exit code the worst of theirs. It does not plan: run `strait plan` for each first."""
    from strait.plan.stackfile import StackFileError, find_project_dir
    from strait.report import collect_reports, merge_markdown

    if args.stack or not args.all_stacks or args.format != "md":
        print("error: report: give either --stack STACK, or --all-stacks (Markdown only). Fix: `strait report "
              "--stack phase1-sg` for one stack, `strait report --all-stacks` for the pull-request comment",
              file=sys.stderr)
        return EXIT_CONFIG
    try:
        project_dir = Path(args.project_dir).resolve() if args.project_dir else find_project_dir()
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stacks = sorted(f.name[len("Pulumi."):-len(".yaml")] for f in (project_dir / "stacks").glob("Pulumi.*.yaml"))
    reports = collect_reports(Path(args.out), stacks)
    sys.stdout.write(merge_markdown(reports))
    return max((code for _, code, _ in reports), default=EXIT_OK)


def _preflight(args: argparse.Namespace) -> int:
    """Check the account (offerings per zone, GPU vCPU quotas, bucket name) with the caller's AWS credentials."""
    from strait.catalog import load_catalog
    from strait.naming import s3_bucket_name
    from strait.preflight import render, run_preflight

    try:
        stack_cfg, cfg = _load_stack(args)  # secrets are not needed to ask AWS about capacity
    except _Exit as exc:
        return exc.code
    if cfg.cloud == "gcp":
        return _preflight_gcp(args, stack_cfg, cfg)
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        print("error: preflight needs boto3 (pip install boto3)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        findings = run_preflight(cfg, load_catalog(), boto3.Session(region_name=cfg.region),
                                 s3_bucket_name(stack_cfg.project, args.stack, cfg.region, "weights"))
    except (BotoCoreError, ClientError) as exc:
        print(f"error: AWS said: {exc}. Fix: export AWS credentials for the target account (aws sso login, "
              "or AWS_PROFILE) and retry.", file=sys.stderr)
        return EXIT_CONFIG
    print(render(findings))
    return EXIT_POLICY if any(f.level == "error" for f in findings) else EXIT_OK


def _preflight_gcp(args: argparse.Namespace, stack_cfg, cfg) -> int:
    """Check the GCP project (accelerators and machine types per zone, GPU quotas, bucket name) with the
    caller's Application Default Credentials (strait/preflight_gcp.py)."""
    from strait.catalog import load_catalog
    from strait.naming import s3_bucket_name
    from strait.preflight import render
    from strait.preflight_gcp import run_preflight_gcp, spec_from_config

    try:
        import google.auth.exceptions
        from google.api_core import exceptions as gexc
    except ImportError:
        print("error: preflight on GCP needs google-cloud-compute and google-cloud-storage (pip install -e .)",
              file=sys.stderr)
        return EXIT_CONFIG
    spec = spec_from_config(cfg, load_catalog(), s3_bucket_name(stack_cfg.project, args.stack, cfg.region, "weights"))
    try:
        findings = run_preflight_gcp(spec)
    except google.auth.exceptions.DefaultCredentialsError:
        print("error: no Google credentials. Fix: run `gcloud auth application-default login` (or set "
              "GOOGLE_APPLICATION_CREDENTIALS) and retry.", file=sys.stderr)
        return EXIT_CONFIG
    except gexc.GoogleAPICallError as exc:
        print(f"error: Google said: {exc.message}. Fix: check that project {spec.project} exists, the Compute "
              "Engine API is enabled, and your account may read it.", file=sys.stderr)
        return EXIT_CONFIG
    print(render(findings))
    return EXIT_POLICY if any(f.level == "error" for f in findings) else EXIT_OK


def _fork(args: argparse.Namespace) -> int:
    """Copy a blueprint into blueprints/NEW_NAME and write a stack that selects it (strait/fork.py)."""
    from strait.fork import ForkError, fork
    from strait.plan.stackfile import StackFileError, find_project_dir

    try:
        project_dir = Path(args.project_dir).resolve() if args.project_dir else find_project_dir()
        res = fork(project_dir, args.blueprint, args.new_name, args.stack)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ForkError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_CONFIG
    print(f"blueprints/{args.new_name}/: copied from blueprints/{args.blueprint}/ (registered by discovery in "
          f"blueprints/registry.py)\nstacks/Pulumi.{res.stack}.yaml: from stacks/Pulumi.{res.example_stack}.yaml, "
          f"strait:blueprint: {args.new_name}\nNext: strait plan --stack {res.stack}")
    return EXIT_OK


def _day(text: str):
    from policies.clock import parse_day

    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _today():
    from policies.clock import today

    try:
        return today()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def main(argv: list[str] | None = None) -> int:
    today_help = ("The day catalog prices are judged against, YYYY-MM-DD (default: $STRAIT_TODAY, else the current "
                  "date); the policy pack reads $STRAIT_TODAY too.")
    parser = argparse.ArgumentParser(prog="strait", description="Strait toolkit: offline plan, reports, catalog.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="Run the Pulumi program offline under mocks and write its artefacts.")
    p.add_argument("--stack", required=True, help="Stack name, e.g. phase1-sg (reads stacks/Pulumi.<stack>.yaml).")
    p.add_argument("--out", default="out", help="Output directory (default: out/); files go to OUT/<stack>/.")
    p.add_argument("--project-dir", default=None, help="Project directory (default: the nearest with Pulumi.yaml).")
    p.add_argument("--compare-to", default=None, metavar="PATH",
                   help="A previous plan's out dir or cost.json: adds a cost diff to cost.json and policy-report.md.")
    p.add_argument("--policy-config", default=None, metavar="FILE",
                   help="Policy pack config JSON (as for pulumi --policy-pack-config), merged over the stack's own.")
    p.add_argument("--today", type=_day, default=None, metavar="YYYY-MM-DD", help=today_help)
    p.set_defaults(func=_plan)
    r = sub.add_parser("report", help="Print the policy report of a stack's plan (plans first if there is none).")
    r.add_argument("--stack", default=None, help="Stack name, e.g. phase1-sg.")
    r.add_argument("--all-stacks", action="store_true",
                   help="Merge the Markdown reports `strait plan` wrote for every stack in stacks/ into ONE comment "
                        "(a section per stack); does not plan.")
    r.add_argument("--format", choices=("md", "json", "sarif"), default="md", help="Report format (default: md).")
    r.add_argument("--out", default="out", help="Where `strait plan` wrote its files (default: out/).")
    r.add_argument("--project-dir", default=None, help="Project directory (default: the nearest with Pulumi.yaml).")
    r.add_argument("--refresh", action="store_true", help="Re-run the plan even when a report exists.")
    r.add_argument("--compare-to", default=None, metavar="PATH", help="As for `strait plan` (used when planning).")
    r.add_argument("--policy-config", default=None, metavar="FILE", help="As for `strait plan` (used when planning).")
    r.add_argument("--today", type=_day, default=None, metavar="YYYY-MM-DD", help=today_help)
    r.set_defaults(func=_report)
    f = sub.add_parser("preflight", help="Ask AWS (your credentials) whether the stack's instance types, quotas "
                                         "and bucket name will work, before `pulumi up`.")
    f.add_argument("--stack", required=True, help="Stack name, e.g. phase1-sg.")
    f.add_argument("--project-dir", default=None, help="Project directory (default: the nearest with Pulumi.yaml).")
    f.set_defaults(func=_preflight)
    k = sub.add_parser("fork", help="Copy a blueprint into blueprints/NEW_NAME (registered) and write a stack that "
                                    "selects it, derived from the blueprint's example stack.")
    k.add_argument("blueprint", metavar="BLUEPRINT", help="Blueprint to copy, e.g. phase1_mvp.")
    k.add_argument("new_name", metavar="NEW_NAME", help="Name of the copy: a lowercase Python identifier, e.g. acme_mvp.")
    k.add_argument("--stack", default=None, help="Stack file to write, stacks/Pulumi.<STACK>.yaml (default: NEW_NAME "
                                                 "with _ as -).")
    k.add_argument("--project-dir", default=None, help="Project directory (default: the nearest with Pulumi.yaml).")
    k.set_defaults(func=_fork)
    args = parser.parse_args(argv)
    if getattr(args, "today", "n/a") is None:
        args.today = _today()  # read once: every policy in this run judges the same day
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
