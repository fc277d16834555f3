"""Pure, deterministic renderers. Nothing here imports pulumi; components wrap what these return."""
