"""The environment variable names crmflow processes read, from crmflow.settings (the one source)."""

from __future__ import annotations

from pydantic import AliasChoices

from crmflow.settings import Settings

# Read outside Settings: the evaluator's Faust data folder (crmflow_evaluator.__main__).
PROCESS_ENV = frozenset({"CRMFLOW_RUN_DIR"})


def settings_env_names() -> frozenset[str]:
    """``CRMFLOW_<FIELD>`` for every Settings field, or the field's aliases when it has some."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return frozenset(names)


def process_env_names() -> frozenset[str]:
    return settings_env_names() | PROCESS_ENV
