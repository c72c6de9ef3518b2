"""Configuration: typed argument groups, parsed from YAML/JSON files and overrides, validated before anything loads."""

from .parser import chosen_values, parse_args, parse_dict, resolved_values, save_run_config
from .run_config import RunConfig

__all__ = ["RunConfig", "chosen_values", "parse_args", "parse_dict", "resolved_values", "save_run_config"]
