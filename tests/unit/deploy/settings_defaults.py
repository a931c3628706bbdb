"""crmflow.settings' default of every environment name it reads, as the text a deployment would set.

(Belongs beside settings_env_names in tests/support/settings_env.py; kept here by file ownership.)
"""

from __future__ import annotations

from pydantic import AliasChoices

from crmflow.settings import Settings

# What a deployment must set to its own values: where things are, not how crmflow behaves.
ADDRESSES = frozenset(
    {
        "CRMFLOW_PG_HOST",
        "CRMFLOW_PG_PORT",
        "CRMFLOW_KAFKA_BOOTSTRAP",
        "CRMFLOW_CONNECT_URL",
        "CRMFLOW_API_HOST",
    }
)


def settings_defaults() -> dict[str, str]:
    """Env name -> default as text (None -> "": an empty value means unset to crmflow)."""
    prefix = Settings.model_config.get("env_prefix", "")
    found: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [f"{prefix}{name}".upper()]
        for env in names:
            if isinstance(env, str):
                found[env] = "" if field.default is None else str(field.default)
    return found
