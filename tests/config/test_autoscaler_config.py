"""The `strait:autoscaler` section: defaults, and bad input gives the exact error."""
import copy

import pytest

from strait.config import validate_stack
from tests.config.test_stack_config import PROVIDER_KEYS, _errors
from tests.conftest import load_stack_raw


def test_defaults_turn_the_autoscaler_on_with_a_ten_minute_scale_down():
    cfg = validate_stack(load_stack_raw("phase1-sg"), "phase1-sg", secrets_set=PROVIDER_KEYS)
    assert cfg.autoscaler.enabled is True
    assert cfg.autoscaler.scale_down_unneeded_minutes == 10


def test_it_can_be_turned_off():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["autoscaler"] = {"enabled": False}
    assert validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS).autoscaler.enabled is False


CASES = {
    "zero minutes": (
        {"scale_down_unneeded_minutes": 0},
        "strait:autoscaler.scale_down_unneeded_minutes = 0: input should be greater than or equal to 1. "
        "Fix: give a value that is greater than or equal to 1."),
    "more than a day": (
        {"scale_down_unneeded_minutes": 1441},
        "strait:autoscaler.scale_down_unneeded_minutes = 1441: input should be less than or equal to 1440. "
        "Fix: give a value that is less than or equal to 1440."),
    "not a boolean": (
        {"enabled": "maybe"},
        "strait:autoscaler.enabled = 'maybe': input should be a valid boolean, unable to interpret input. "
        "Fix: use true or false."),
    "misspelt key": (
        {"scale_down": 5},
        "strait:autoscaler.scale_down = <not shown>: unknown key 'scale_down'. Fix: remove it or correct its spelling; "
        "allowed keys here: enabled, scale_down_unneeded_minutes."),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_autoscaler_input_gives_the_exact_error(case):
    section, expected = CASES[case]
    assert _errors(lambda raw: raw.update(autoscaler=section)) == [expected]
