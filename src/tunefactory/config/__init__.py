"""Configuration: typed argument groups, parsed from YAML/JSON files and overrides, validated before anything loads."""

from .parser import RunConfig, chosen_values, parse_args, parse_dict, resolved_values, save_run_config
from .reference import render_config

__all__ = ["RunConfig", "chosen_values", "parse_args", "parse_dict", "render_config", "resolved_values", "save_run_config"]
