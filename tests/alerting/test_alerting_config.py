"""`strait:observability.alerting`: defaults, receivers need their secrets, exact errors."""
import copy

import pytest

from strait.config import SECRET_KEYS, validate_stack
from tests.config.test_stack_config import PROVIDER_KEYS, _errors
from tests.conftest import load_stack_raw


def _with(alerting: dict):
    def mutate(raw):
        raw.setdefault("observability", {})["alerting"] = alerting
    return mutate


def test_defaults_route_to_nobody_and_add_no_slo_alerts():
    a = validate_stack(load_stack_raw("phase1-sg"), "phase1-sg", secrets_set=PROVIDER_KEYS).observability.alerting
    assert (a.pagerduty, a.slack_channel, a.slo_alerts, a.availability_slo, a.repeat_interval_hours) == (
        False, None, False, 0.99, 4)


def test_receivers_with_their_secrets_validate():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    _with({"pagerduty": True, "slack_channel": "#llm-alerts", "slo_alerts": True})(raw)
    cfg = validate_stack(raw, "phase1-sg",
                         secrets_set=PROVIDER_KEYS | {"pagerduty_routing_key", "slack_webhook_url"})
    assert cfg.observability.alerting.slack_channel == "#llm-alerts"


def test_both_credentials_are_secret_keys():
    assert {"pagerduty_routing_key", "slack_webhook_url"} <= set(SECRET_KEYS)


CASES = {
    "pagerduty without its key": (
        {"pagerduty": True}, PROVIDER_KEYS, frozenset(),
        ["strait:observability.alerting.pagerduty = True: needs the secret strait:pagerduty_routing_key, which is not "
         "set. Fix: run `pulumi config set --secret strait:pagerduty_routing_key <the PagerDuty service's Events API "
         "v2 integration key>`."]),
    "slack without its webhook": (
        {"slack_channel": "#llm"}, PROVIDER_KEYS, frozenset(),
        ["strait:observability.alerting.slack_channel = '#llm': needs the secret strait:slack_webhook_url, which is "
         "not set. Fix: run `pulumi config set --secret strait:slack_webhook_url <the Slack app's incoming-webhook "
         "URL>`."]),
    "a webhook nobody uses": (
        {}, PROVIDER_KEYS | {"slack_webhook_url"}, frozenset(),
        ["strait:observability.alerting.slack_channel = None: the secret strait:slack_webhook_url is set but "
         "observability.alerting.slack_channel is off, so it would be ignored. Fix: turn "
         "observability.alerting.slack_channel on, or `pulumi config rm strait:slack_webhook_url`."]),
    "a routing key in plain text": (
        {"pagerduty": True}, PROVIDER_KEYS, frozenset({"pagerduty_routing_key"}),
        ["strait:pagerduty_routing_key = <plain text>: this key holds a credential but is not stored as a secret. "
         "Fix: run `pulumi config set --secret strait:pagerduty_routing_key <value>`."]),
    "not a channel": (
        {"slack_channel": "LLM Alerts"}, PROVIDER_KEYS | {"slack_webhook_url"}, frozenset(),
        ["strait:observability.alerting.slack_channel = 'LLM Alerts': not a Slack channel name. Fix: write it like "
         "'#llm-alerts' (lower case, digits, '-', '_')."]),
    "availability out of range": (
        {"availability_slo": 0.5}, PROVIDER_KEYS, frozenset(),
        ["strait:observability.alerting.availability_slo = 0.5: input should be greater than or equal to 0.9. "
         "Fix: give a value that is greater than or equal to 0.9."]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_alerting_config_gives_the_exact_error(case):
    alerting, secrets, plaintext, expected = CASES[case]
    assert _errors(_with(alerting), secrets=secrets, plaintext=plaintext) == expected


def test_the_offline_plan_can_tell_which_receiver_secrets_a_stack_needs():
    from strait.config.observability import alerting_secrets_on

    assert alerting_secrets_on({}) == set()
    assert alerting_secrets_on({"observability": {"alerting": {"pagerduty": True}}}) == {"pagerduty_routing_key"}
    assert alerting_secrets_on({"observability": '{"alerting": {"slack_channel": "#a", "pagerduty": false}}'}) == {
        "slack_webhook_url"}
