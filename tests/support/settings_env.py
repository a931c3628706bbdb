"""The environment variable names crmflow processes read, and their defaults, from
crmflow.settings (the one source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import AliasChoices

from crmflow.settings import Settings

# What a deployment must set to its own values: where things are, not how crmflow behaves.
ADDRESSES = frozenset(
    {
        "CRMFLOW_PG_HOST",
        "CRMFLOW_PG_PORT",
        "CRMFLOW_KAFKA_BOOTSTRAP",
        "CRMFLOW_CONNECT_URL",
        "CRMFLOW_SUPERVISOR_URL",
        "CRMFLOW_API_HOST",
        "CRMFLOW_RUN_DIR",
    }
)


def _env_fields() -> Iterator[tuple[str, Any]]:
    """(environment name, field): ``CRMFLOW_<FIELD>``, or the field's aliases when it has some."""
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            yield from ((choice, field) for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            yield alias, field
        else:
            yield f"{prefix}{name}".upper(), field


def settings_env_names() -> frozenset[str]:
    return frozenset(env for env, _ in _env_fields())


def settings_defaults() -> dict[str, str]:
    """Env name -> default as text (None -> "": an empty value means unset to crmflow)."""
    return {env: "" if field.default is None else str(field.default) for env, field in _env_fields()}
