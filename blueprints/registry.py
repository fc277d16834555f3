"""Which config model each ``strait:blueprint`` value selects. Imports only pure config modules."""
from blueprints.phase1_mvp.config import Phase1Config

CONFIG_MODELS = {
    "phase1_mvp": Phase1Config,
}
