"""Settings of every crmflow process, read from the environment (one source of truth).

Each knob is an environment variable named ``CRMFLOW_<FIELD>`` unless an alias says otherwise
(``INTERNAL_API_KEY`` and ``MAX_CHAIN_DEPTH`` keep the seed's names). The README lists them all.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmflow.actions import DEFAULT_PATIENT_FIELD_ALLOWLIST
from crmflow.webhook_policy import IPNetwork, parse_networks


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
    evaluator_fetch_wait_ms: int = Field(
        default=100,
        ge=1,
        description="Longest wait of the evaluator's fetches from the broker (Faust's own: 1,500 ms). "
        "A fetch holding only idle partitions delays the busy ones by up to this much.",
    )
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

    # retention (SPEC section 10; crmflow.retention)
    retention_days: int = Field(
        default=30,
        ge=1,
        description="Outbox payloads, run traces and action-log args older than this many days are "
        "pruned (ids, statuses and timestamps stay); backtests cover this window.",
    )
    retention_batch_size: int = Field(
        default=1000, ge=1, description="Rows pruned per transaction (each batch a short transaction)."
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often the action-runner runs retention; 0 = never (Helm: its CronJob does).",
    )
    backtest_max_events: int = Field(
        default=200_000,
        ge=1,
        description="Per-practice cap on the events one backtest scans (a practice runs one at a "
        "time); a backtest that reaches it ends done with capped: true.",
    )
    backtest_page_size: int = Field(
        default=2000, ge=1, le=50_000, description="Outbox rows a backtest reads per query (keyset pages)."
    )
    backtest_workers: int = Field(
        default=2, ge=1, description="Backtests one rules-api process runs at once (threads)."
    )
    backtest_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Scheduling niceness of the backtest threads (Linux, per thread): under CPU "
        "contention the live pipeline's processes and the API's requests go first.",
    )
    backtest_stale_seconds: float = Field(
        default=60.0,
        description="A running backtest whose progress has not moved for this long (its process "
        "died) is marked failed, so its practice may start another.",
    )

    # Reach (SPEC section 9): the delivery worker and the senders (docs/operations.md)
    delivery_threads: int = Field(default=4, ge=1, le=64, description="Concurrent sends per runner.")
    delivery_poll_seconds: float = Field(default=0.25, gt=0, description="Idle wait between queue reads.")
    delivery_max_attempts: int = Field(default=5, ge=1, le=50, description="Attempts before dead-letter.")
    delivery_backoff_seconds: float = Field(
        default=2.0, gt=0, description="Backoff base between attempts (doubles, full jitter)."
    )
    delivery_backoff_max_seconds: float = Field(default=300.0, gt=0, description="Cap of that backoff.")
    smtp_url: str | None = Field(
        default=None,
        description="smtp://host:port (or smtps:// for TLS from the start); unset: e-mail is not sent.",
    )
    smtp_starttls: bool = Field(default=False, description="Upgrade smtp:// with STARTTLS before auth.")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    email_from: str = Field(default="crmflow@localhost", description="From address of sent e-mail.")
    sms_api_url: str | None = Field(
        default=None,
        description="Base URL of a Twilio-compatible Messages API; unset: SMS are not sent.",
    )
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = Field(default=None, description="The sender's phone number (E.164).")
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    # webhooks (SPEC section 9): where they may go, how long they may take, how they are signed
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs webhooks may reach although private, loopback or otherwise "
        "non-public (plain http is allowed only to these); empty: public addresses over https only.",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one webhook request.")
    webhook_secret_grace_seconds: int = Field(
        default=86_400,
        ge=0,
        description="After a rotation the previous webhook secret still signs (a second signature) "
        "this long, so receivers can switch over; 0: it stops at once.",
    )
    secret_key: str = Field(
        default="crmflow-dev-secret-key-change-me",
        description="Encrypts stored secrets (the practices' webhook secrets). Several comma-separated "
        "keys: the first encrypts, every one decrypts (key rotation).",
    )

    log_level: str = "INFO"

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a typo fails the process at start, not its first webhook
        return value

    @property
    def webhook_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.webhook_allowed_networks)

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
