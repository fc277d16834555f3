"""strait_errors.py on its own: which status, message and headers a client gets for a failure."""
from __future__ import annotations

import pytest

from strait.gateway.errors import client_error, plain_message, retry_after_seconds, upstream_message

VLLM_400 = ('litellm.BadRequestError: ContextWindowExceededError: Hosted_vllmException - {"object": "error", "message": '
            '"This model\'s maximum context length is 200 tokens. However, you requested 1000 tokens.", "code": 400}')


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after": "7"}, 7), ({"Retry-After": "0.2"}, 1), ({"retry-after-ms": "2500"}, 3), ({"retry-after": "-1"}, None),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None), ({"retry-after": "nan"}, None),
    ({"retry-after": "999999"}, 3600), ({}, None), (None, None),
])
def test_retry_after_is_relayed_in_whole_seconds(headers, seconds):
    assert retry_after_seconds(headers) == seconds


def test_a_429_carries_retry_after_only_when_known():
    e = client_error(status=429, model="commercial", retry_after=7)
    assert (e.status, e.type, e.headers) == (429, "rate_limit_error", {"Retry-After": "7"})
    assert e.body == {"error": {"message": "Every upstream for model 'commercial' is rate-limited or at capacity. "
                                           "Retry after 7 s.", "type": "rate_limit_error", "param": None, "code": "429"}}
    assert client_error(status=429, model="commercial").headers == {}


@pytest.mark.parametrize("status, deadline_passed, expect", [
    (408, False, 504), (504, False, 504), (500, True, 504), (None, True, 504),
    (500, False, 502), (503, False, 502), (401, False, 502), (403, False, 502), (None, False, 502),
    (400, False, 400), (404, False, 404), (413, False, 413), (422, False, 422),
])
def test_status_mapping(status, deadline_passed, expect):
    assert client_error(status=status, model="m", deadline_passed=deadline_passed, deadline_seconds=240).status == expect


def test_the_deadline_is_named_only_when_it_ended_the_request():
    assert "within the gateway's 240 s deadline" in client_error(status=408, model="m", deadline_passed=True,
                                                                  deadline_seconds=240).message
    assert client_error(status=408, model="m").message == "No upstream answered for model 'm' in time. Retry later."


def test_an_upstreams_own_400_message_passes_when_it_names_no_internals():
    assert upstream_message(VLLM_400) == "This model's maximum context length is 200 tokens. However, you requested 1000 tokens."
    assert client_error(status=400, model="m", detail=VLLM_400).message.startswith("This model's maximum context length")
    for leaky in ('X - {"error": {"message": "upstream http://10.0.0.7:8000/v1 said no"}}',
                  'X - {"message": "Hosted_vllmException: engine dead"}', 'X - {"message": "see api_base"}',
                  "no json here", "", None):
        assert upstream_message(leaky) is None
    assert client_error(status=400, model="m", detail='X - {"message": "litellm.Foo"}').message == \
        "The upstream for model 'm' rejected the request as invalid."


def test_a_plain_router_message_loses_its_class_name_prefixes():
    assert plain_message("litellm.BadRequestError: Invalid model name passed in model=x. Call `/v1/models`.") == \
        "Invalid model name passed in model=x. Call `/v1/models`."
    assert plain_message("litellm.APIError: APIError: Hosted_vllmException - bad field") == "bad field"
    assert plain_message("litellm.APIError: Hosted_vllmException - see http://10.0.0.7:8000") is None


def test_a_model_name_that_looks_internal_is_not_echoed():
    assert "the requested model" in client_error(status=500, model="http://10.1.2.3/v1").message
