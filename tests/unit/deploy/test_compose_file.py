"""docker-compose.yml, read as data: the stack it declares, the shared connector config it mounts, and
the configuration names it shares with crmflow.settings and deploy/local/env.sh.

(Validation against the Compose Specification schema: tests/integration/test_deploy_compose.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.processes import ROOT
from tests.support.settings_env import ADDRESSES, settings_defaults, settings_env_names

CONNECTOR_FILE = ROOT / "deploy" / "connect" / "crmflow-outbox.json"
SERVICES = {
    "rules-api": ("crmflow-api", 8000),
    "evaluator": ("crmflow-evaluator", 8001),
    "action-runner": ("crmflow-runner", 8002),
}
CRMFLOW_CONTAINERS = ("migrate", "connect-register", "connect-supervisor", *SERVICES)
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_declares_the_whole_stack(compose):
    assert set(compose["services"]) == {
        "postgres",
        "kafka",
        "connect",
        "connect-register",
        "connect-supervisor",
        "kafka-ui",
        "migrate",
        "rules-api",
        "evaluator",
        "action-runner",
    }


def test_pins_the_infrastructure_versions(compose):
    images = {name: s["image"] for name, s in compose["services"].items()}
    assert images["postgres"].startswith("postgres:15")
    assert re.fullmatch(r"apache/kafka:4\.3\.\d+", images["kafka"])
    assert images["connect"] == "quay.io/debezium/connect:3.6.1.Final"
    assert re.fullmatch(r"ghcr\.io/kafbat/kafka-ui:v\d+\.\d+\.\d+", images["kafka-ui"])


def test_postgres_has_logical_replication_and_a_wal_cap(compose):
    command = compose["services"]["postgres"]["command"]
    settings = [command[i + 1] for i, arg in enumerate(command) if arg == "-c"]
    assert "wal_level=logical" in settings
    assert any(s.startswith("max_slot_wal_keep_size=") for s in settings)


def test_the_shared_connector_config_is_mounted_not_copied(compose):
    register = compose["services"]["connect-register"]
    mounts = [v.split(":") for v in register["volumes"]]
    [(_, target, mode)] = [m for m in mounts if (ROOT / m[0]).resolve() == CONNECTOR_FILE.parent]
    assert mode == "ro"
    assert f"{target}/{CONNECTOR_FILE.name}" in register["command"]
    # The image does not carry a copy: the Dockerfile's build context ignores deploy/connect.
    ignore = (ROOT / "deploy" / "docker" / "Dockerfile.dockerignore").read_text()
    assert "deploy/connect" not in ignore
    assert "COPY deploy/connect" not in (ROOT / "deploy" / "docker" / "Dockerfile").read_text()


def test_connect_resolves_every_env_reference_of_the_connector(compose):
    connect = compose["services"]["connect"]["environment"]
    references = set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", CONNECTOR_FILE.read_text()))
    assert references, "the connector config uses ${env:...} for the database"
    assert references <= set(connect)
    assert connect["CONNECT_CONFIG_PROVIDERS"] == "env"
    assert (
        connect["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"]
        == "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
    )
    allow = connect["CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN"].replace("$$", "$")
    assert all(re.fullmatch(allow, name) for name in references)


@pytest.mark.parametrize("name", CRMFLOW_CONTAINERS)
def test_crmflow_containers_use_only_the_settings_env_names(compose, name):
    environment = compose["services"][name]["environment"]
    assert set(environment) - settings_env_names() == set()


def test_crmflow_env_gives_the_settings_defaults_but_for_addresses(compose):
    """A knob compose sets (or defaults with `${NAME:-default}`) behaves as crmflow's default."""
    defaults = settings_defaults()
    given = {
        name: INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))
        for name, value in compose["x-crmflow-env"].items()
        if name not in ADDRESSES
    }
    assert {"CRMFLOW_TOPIC_PARTITIONS", "MAX_CHAIN_DEPTH", "CRMFLOW_API_PORT"} <= set(given)
    assert given == {name: defaults[name] for name in given}


@pytest.mark.parametrize("name", list(SERVICES))
def test_services_run_their_entrypoint_with_a_readyz_healthcheck(compose, name):
    entrypoint, port = SERVICES[name]
    service = compose["services"][name]
    assert service["command"] == [entrypoint]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["ports"][0].endswith(f":{port}")
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_connect_supervisor_watches_connect_and_the_api_reads_it(compose):
    supervisor = compose["services"]["connect-supervisor"]
    assert supervisor["command"] == ["crmflow-supervisor"]
    # It must keep working while PostgreSQL or Kafka are down: Connect is all it waits for.
    assert set(supervisor["depends_on"]) == {"connect"}
    assert "http://127.0.0.1:8004/healthz" in " ".join(supervisor["healthcheck"]["test"])
    assert supervisor["ports"][0].endswith(":8004")
    env = compose["x-crmflow-env"]
    assert env["CRMFLOW_SUPERVISOR_URL"] == f"http://connect-supervisor:{env['CRMFLOW_SUPERVISOR_PORT']}"


def test_one_shots_run_in_order(compose):
    services = compose["services"]
    assert services["migrate"]["command"][-1] == "crmflow migrate && crmflow topics create"
    # The migrations create the publication the connector streams: register only after them.
    register = services["connect-register"]["depends_on"]
    assert register["migrate"]["condition"] == "service_completed_successfully"
    assert register["connect"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == services["connect-register"]["restart"] == "no"


def test_kafka_ui_knows_the_cluster_and_connect(compose):
    ui = compose["services"]["kafka-ui"]["environment"]
    assert ui["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == compose["x-crmflow-env"]["CRMFLOW_KAFKA_BOOTSTRAP"]
    assert ui["KAFKA_CLUSTERS_0_KAFKACONNECT_0_ADDRESS"] == compose["x-crmflow-env"]["CRMFLOW_CONNECT_URL"]


def _env_sh_defaults() -> dict[str, str]:
    """``export NAME="${NAME:-default}"`` lines of deploy/local/env.sh whose default is a literal."""
    text = (ROOT / "deploy" / "local" / "env.sh").read_text()
    found = re.findall(r'^export (\w+)="\$\{\1:-([^"$]*)\}"$', text, flags=re.M)
    return dict(found)


def test_variables_shared_with_deploy_local_have_its_defaults():
    defaults = _env_sh_defaults()
    assert {"CRMFLOW_PG_USER", "CRMFLOW_PG_PORT", "CRMFLOW_KAFKA_PORT"} <= set(defaults)
    used = INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text())
    shared = [(name, default) for name, default in used if name in defaults]
    assert shared
    assert [(n, d) for n, d in shared if d != defaults[n]] == []


def test_every_interpolated_variable_is_a_known_knob():
    """Host-side variables: the local stack's, crmflow's, or the few compose-only ones."""
    compose_only = {"POSTGRES_PASSWORD", "CRMFLOW_IMAGE", "CRMFLOW_KAFKA_UI_PORT"}
    known = set(_env_sh_defaults()) | settings_env_names() | compose_only
    used = {name for name, _ in INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text())}
    assert used - known == set()


def test_connector_file_is_valid_json_with_name_and_config():
    connector = json.loads(Path(CONNECTOR_FILE).read_text())
    assert connector["name"] == "crmflow-outbox"
    assert connector["config"]["connector.class"].endswith("PostgresConnector")
