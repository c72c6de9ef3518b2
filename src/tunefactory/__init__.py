"""TuneFactory: fine-tune large language models from one YAML file and one command."""

__version__ = "0.1.0"
