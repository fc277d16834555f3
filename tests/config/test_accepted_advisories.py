"""strait:accepted_advisories: only advisory policies, named exactly, each with a reason; exact error text."""
import pytest

from tests.config.test_stack_config import _errors

from policies.rules import RULES

ADVISORY = ", ".join(sorted(r.name for r in RULES if r.enforcement == "advisory"))


def accept(**entries):
    return lambda raw: raw.update(accepted_advisories=dict(entries))


@pytest.mark.parametrize("entries, expected", [
    ({"strait-gpu-price-fersh": "the catalog price was checked by hand this week"},
     "strait:accepted_advisories.strait-gpu-price-fersh = 'the catalog price was checked by hand this week': not a "
     f"Strait policy. Fix: did you mean strait-gpu-price-fresh? name one of the advisory policies ({ADVISORY}), or remove the entry."),
    ({"strait-gpu-spend-monthly-cap": "we are over budget for a good reason"},
     "strait:accepted_advisories.strait-gpu-spend-monthly-cap = 'we are over budget for a good reason': "
     "strait-gpu-spend-monthly-cap is a mandatory policy, which cannot be accepted. Fix: fix what it reports; only "
     "advisory policies can be accepted."),
    ({"strait-kv-cache-concurrency": "ok"},
     "strait:accepted_advisories.strait-kv-cache-concurrency = 'ok': the reason is too short. Fix: say why the "
     "finding is acceptable and when it will be revisited, in at least 20 characters."),
])
def test_bad_acceptances_are_errors_naming_field_value_and_fix(entries, expected):
    assert _errors(accept(**entries)) == [expected]


def test_every_bad_entry_is_reported_at_once():
    errors = _errors(accept(**{"strait-nope": "a reason that is long enough", "strait-kv-cache-concurrency": "short"}))
    assert [e.split(" = ")[0] for e in errors] == ["strait:accepted_advisories.strait-kv-cache-concurrency",
                                                  "strait:accepted_advisories.strait-nope"]


def test_an_advisory_policy_with_a_reason_is_accepted():
    from strait.config import validate_stack
    from tests.conftest import load_stack_raw
    from tests.config.test_stack_config import PROVIDER_KEYS

    raw = load_stack_raw("phase1-sg") | {"accepted_advisories": {
        "strait-kv-cache-concurrency": "long prompts are rare here; revisit after the first month of traffic"}}
    cfg = validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS)
    assert set(cfg.accepted_advisories) == {"strait-kv-cache-concurrency"}
