"""Gateway routing that runs inside the LiteLLM proxy: the tier classifier and breaker (routing.py,
pure) and the proxy callback that applies them (hook.py). Both files ship verbatim in the gateway's
ConfigMap; see strait/render/litellm.py ``render_gateway_files``."""
