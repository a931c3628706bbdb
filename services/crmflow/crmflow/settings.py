"""Settings of every crmflow process, read from the environment (one source of truth).

Each knob is an environment variable named ``CRMFLOW_<FIELD>`` unless an alias says otherwise
(``INTERNAL_API_KEY`` and ``MAX_CHAIN_DEPTH`` keep the seed's names). The README lists them all.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmflow.actions import DEFAULT_PATIENT_FIELD_ALLOWLIST


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMFLOW_", extra="ignore")

    # PostgreSQL
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "crmflow"
    pg_password: str = "crmflow"
    pg_db: str = "crmflow"
    db_pool_size: int = 5

    # Kafka and Kafka Connect
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Client security of every crmflow Kafka client (librdkafka, aiokafka and Faust alike).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_ca_location: str | None = Field(
        default=None,
        description="CA bundle (PEM) that signed the brokers' certificates; system CAs if unset.",
    )
    connect_url: str = "http://127.0.0.1:8083"
    connector_name: str = "crmflow-outbox"
    topic_partitions: int = 6

    # connect-supervisor: restarts a FAILED connector or task (Connect never does by itself)
    supervisor_port: int = Field(default=8004, description="The supervisor's /healthz, /status, /metrics.")
    supervisor_url: str | None = Field(
        default="http://127.0.0.1:8004",
        description="Where the rules-api reads the supervisor's /status (restarts, last error); "
        "empty when none runs (Helm with Strimzi's autoRestart).",
    )
    supervisor_interval_seconds: float = Field(default=2.0, description="How often it polls Connect.")
    supervisor_backoff_initial_seconds: float = Field(
        default=2.0, description="Wait before the first restart of a failure; doubles per restart."
    )
    supervisor_backoff_max_seconds: float = Field(default=300.0, description="Cap of that wait.")
    supervisor_healthy_seconds: float = Field(
        default=60.0, description="RUNNING this long: the next failure starts the backoff again."
    )
    supervisor_connect_timeout_seconds: float = Field(
        default=3.0, description="Timeout of each Connect REST call (bounds its SIGTERM exit too)."
    )

    # rules-api
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    internal_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("INTERNAL_API_KEY", "CRMFLOW_INTERNAL_API_KEY")
    )
    api_key_secret: str = Field(
        default="crmflow-dev-secret-change-me",
        description="Server secret of the keyed hash (HMAC-SHA256) that stores API keys.",
    )
    max_body_bytes: int = 256 * 1024
    test_wait_seconds: float = 10.0

    # evaluator
    max_chain_depth: int = Field(
        default=3, validation_alias=AliasChoices("MAX_CHAIN_DEPTH", "CRMFLOW_MAX_CHAIN_DEPTH")
    )
    evaluator_port: int = 8001
    # Batch knobs (trade-offs measured in bench/README.md): a batch closes when full or after
    # *_seconds; at high rates batches fill before the wait ends, at low rates the wait is
    # latency, and a shorter one costs more batches (CPU) for fewer events each.
    evaluator_batch_size: int = 500
    evaluator_batch_seconds: float = 0.005
    rules_catch_up_seconds: float = Field(
        default=2.0,
        description="How long the evaluator holds an event until it has every rule change of the "
        "practice saved before the event (its rulesSeq header), so such a rule applies to it.",
    )

    run_dir: str = Field(
        default=".run",
        description="Run folder; the evaluator keeps Faust's data folder in it (evaluator-data). "
        "deploy/local puts its logs, pids and data there too.",
    )

    # action-runner
    runner_port: int = 8002
    runner_batch_size: int = 500
    runner_poll_seconds: float = Field(
        default=0.0,
        ge=0,
        description="After the first command of a batch arrives, how long the runner waits for "
        "more to fill the batch (0: it takes what has already been fetched; it blocks on the "
        "broker until a first command comes, so this is not an idle poll interval).",
    )
    scheduler_interval_seconds: float = 0.5
    wait_signal_retention_seconds: float = Field(
        default=2_592_000.0,
        gt=0,
        description="How long an awaited event (wait_for_event) is kept for runs that reach their wait "
        "after it arrived (30 days); older ones are pruned by the scheduler.",
    )
    patient_field_allowlist: tuple[str, ...] = DEFAULT_PATIENT_FIELD_ALLOWLIST
    max_retries: int = 5

    log_level: str = "INFO"

    @property
    def database_url(self) -> str:
        return (
            f"postgresql+psycopg://{self.pg_user}:{self.pg_password}"
            f"@{self.pg_host}:{self.pg_port}/{self.pg_db}"
        )

    @property
    def evaluator_data_dir(self) -> str:
        return os.path.join(self.run_dir, "evaluator-data")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
