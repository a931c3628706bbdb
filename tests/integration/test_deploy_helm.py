"""The Helm chart deploy/helm/crmflow: `helm lint`, `helm template` with the default values and the
production-like ones in ci/, and the rendered manifests validated against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail). Custom resources (ServiceMonitor,
KafkaConnector, KEDA's ScaledObject) have no schema there and are checked field by field.

helm is built once from the Go module proxy (deploy/helm/get-helm.sh) and cached outside git.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from crmflow.settings import Settings
from crmflow_evaluator.app import build_app
from crmflow_runner.bootstrap import GROUP_ID as RUNNER_GROUP_ID
from tests.support.containers import compose_services
from tests.support.processes import ROOT
from tests.support.settings_env import ADDRESSES, settings_defaults, settings_env_names

pytestmark = pytest.mark.integration

CHART = ROOT / "deploy" / "helm" / "crmflow"
KUBE_VERSION = "1.30.0"
CONNECTOR = json.loads((ROOT / "deploy" / "connect" / "crmflow-outbox.json").read_text())
VALUES: dict[str, Path | None] = {
    "default": None,
    "production": CHART / "ci" / "production-values.yaml",
    "strimzi": CHART / "ci" / "strimzi-values.yaml",
    "keda": CHART / "ci" / "keda-values.yaml",
}
CUSTOM_KINDS = {"ServiceMonitor", "KafkaConnector", "ScaledObject"}
COMPONENTS = ("rules-api", "evaluator", "action-runner")


@pytest.fixture(scope="module")
def helm() -> str:
    return subprocess.run(
        [str(ROOT / "deploy" / "helm" / "get-helm.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


def _helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60)


def _values_args(values: Path | None, *sets: str) -> list[str]:
    args = ["--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", str(values)]
    for s in sets:
        args += ["--set", s]
    return args


def render(helm: str, values: Path | None, *sets: str) -> list[dict]:
    result = _helm(helm, "template", "crm", str(CHART), "--namespace", "crm", *_values_args(values, *sets))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=list(VALUES))
def manifests(request, helm) -> list[dict]:
    return render(helm, VALUES[request.param])


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("values", list(VALUES))
def test_helm_lint_passes(helm, values):
    result = _helm(helm, "lint", "--strict", str(CHART), *_values_args(VALUES[values]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_manifests_are_valid_kubernetes_objects(manifests):
    validated = 0
    for doc in manifests:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        validated += 1
    assert validated >= 14


def test_schema_validation_catches_an_invalid_manifest(manifests):
    deployment = next(d for d in manifests if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_deployments_run_each_service_with_probes_on_its_port(manifests):
    deployments = by_kind(manifests, "Deployment")
    config = by_kind(manifests, "ConfigMap")["crm-crmflow"]["data"]
    ports = {
        "rules-api": config["CRMFLOW_API_PORT"],
        "evaluator": config["CRMFLOW_EVALUATOR_PORT"],
        "action-runner": config["CRMFLOW_RUNNER_PORT"],
    }
    assert {name.removeprefix("crm-crmflow-") for name in deployments} - {"connect-supervisor"} == set(
        COMPONENTS
    )
    for name in COMPONENTS:
        container = deployments[f"crm-crmflow-{name}"]["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": int(ports[name]), "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_chart_runs_the_image_entrypoints_compose_runs(manifests):
    """One set of entrypoints (tests/unit/deploy/test_image_entrypoints.py holds compose's to the
    image's; tests/image runs compose's in the image): the chart's commands are compose's."""
    compose = compose_services()

    def command(doc: dict) -> list[str]:
        return doc["spec"]["template"]["spec"]["containers"][0]["command"]

    deployments = by_kind(manifests, "Deployment")
    for name in COMPONENTS:
        assert command(deployments[f"crm-crmflow-{name}"]) == compose[name]["command"], name
    jobs = by_kind(manifests, "Job")
    if "crm-crmflow-migrate" in jobs:
        assert command(jobs["crm-crmflow-migrate"]) == compose["migrate"]["command"]
    if "crm-crmflow-connect-register" in jobs:
        register = compose["connect-register"]["command"]
        assert command(jobs["crm-crmflow-connect-register"])[: len(register)] == register


def test_environment_uses_the_settings_names_only(manifests):
    env: set[str] = set()
    for doc in manifests:
        if doc["kind"] in ("ConfigMap", "Secret") and not doc["metadata"]["name"].endswith("-connector"):
            env |= set(doc.get("data") or {}) | set(doc.get("stringData") or {})
    assert {"CRMFLOW_PG_HOST", "CRMFLOW_KAFKA_BOOTSTRAP", "CRMFLOW_CONNECT_URL"} <= env
    assert env - settings_env_names() == set()


def test_default_values_give_the_settings_defaults_but_for_addresses(helm):
    """The chart's default values restate crmflow's defaults (a chart needs them as values): equal."""
    [config] = [
        d for d in render(helm, None) if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "crm-crmflow"
    ]
    defaults = settings_defaults()
    # The chart's own choice: its retention CronJob replaces the action-runner's retention loop.
    chosen = {"CRMFLOW_RETENTION_INTERVAL_SECONDS": "0"}
    given = {
        name: value
        for name, value in config["data"].items()
        if name in defaults and name not in ADDRESSES and name not in chosen
    }
    assert {name: config["data"][name] for name in chosen} == chosen
    assert {
        "CRMFLOW_TOPIC_PARTITIONS",
        "CRMFLOW_DB_POOL_SIZE",
        "MAX_CHAIN_DEPTH",
        "CRMFLOW_RUNNER_PORT",
    } <= set(given)
    assert given == {name: defaults[name] for name in given}


def test_default_values_hold_no_secrets(helm):
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert all(value == "" for value in values["secrets"].values())
    [secret] = by_kind(render(helm, None), "Secret").values()
    # Only the generated server secrets (API keys' HMAC, stored secrets' encryption): never a
    # password from the values.
    assert set(secret["stringData"]) == {"CRMFLOW_API_KEY_SECRET", "CRMFLOW_SECRET_KEY"}
    assert all(len(value) == 48 for value in secret["stringData"].values())


def test_existing_secret_replaces_the_chart_secret(helm):
    docs = render(helm, VALUES["production"])
    assert by_kind(docs, "Secret") == {}
    for deployment in by_kind(docs, "Deployment").values():
        env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "crmflow-secrets"}} in env_from


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook_after_their_config(manifests):
    jobs = by_kind(manifests, "Job")
    migrate = jobs["crm-crmflow-migrate"]
    hook = migrate["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = migrate["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c", "crmflow migrate && crmflow topics create"]
    # The ConfigMap and Secret it reads are hooks too, created before it.
    for doc in manifests:
        if doc["kind"] in ("ConfigMap", "Secret") and doc["metadata"]["name"] == "crm-crmflow":
            annotations = doc["metadata"]["annotations"]
            assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
            assert int(annotations["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])


def test_the_connector_comes_from_the_single_source(helm):
    link = CHART / "files" / "crmflow-outbox.json"
    assert link.is_symlink() and link.resolve() == (ROOT / "deploy" / "connect" / "crmflow-outbox.json")

    default = render(helm, None)
    configmap = by_kind(default, "ConfigMap")["crm-crmflow-connector"]
    assert json.loads(configmap["data"]["crmflow-outbox.json"]) == CONNECTOR
    register = by_kind(default, "Job")["crm-crmflow-connect-register"]
    assert register["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    command = register["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == [
        "python",
        "/opt/crmflow/register_connector.py",
        "/etc/crmflow/connect/crmflow-outbox.json",
    ]

    strimzi = render(helm, VALUES["strimzi"])
    assert "crm-crmflow-connect-register" not in by_kind(strimzi, "Job")
    [connector] = by_kind(strimzi, "KafkaConnector").values()
    assert connector["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert connector["metadata"]["name"] == CONNECTOR["name"]
    assert connector["metadata"]["labels"]["strimzi.io/cluster"] == "crmflow-connect"
    spec = connector["spec"]
    config = CONNECTOR["config"]
    assert spec["class"] == config["connector.class"]
    assert spec["tasksMax"] == int(config["tasks.max"])
    assert {**spec["config"], "connector.class": spec["class"], "tasks.max": str(spec["tasksMax"])} == config


def test_a_failed_connector_is_restarted_by_the_supervisor_or_by_strimzi(helm):
    """Connect never restarts a FAILED connector or task: without Strimzi the chart runs the
    connect-supervisor (one replica), with Strimzi the KafkaConnector's autoRestart does it."""
    default = render(helm, None)
    supervisor = by_kind(default, "Deployment")["crm-crmflow-connect-supervisor"]
    assert supervisor["spec"]["replicas"] == 1
    container = supervisor["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["crmflow-supervisor"]
    config = by_kind(default, "ConfigMap")["crm-crmflow"]["data"]
    assert container["ports"][0]["containerPort"] == int(config["CRMFLOW_SUPERVISOR_PORT"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = by_kind(default, "Service")["crm-crmflow-connect-supervisor"]
    assert (
        config["CRMFLOW_SUPERVISOR_URL"]
        == f"http://crm-crmflow-connect-supervisor:{service['spec']['ports'][0]['port']}"
    )

    strimzi = render(helm, VALUES["strimzi"])
    assert "crm-crmflow-connect-supervisor" not in by_kind(strimzi, "Deployment")
    assert by_kind(strimzi, "ConfigMap")["crm-crmflow"]["data"]["CRMFLOW_SUPERVISOR_URL"] == ""
    [connector] = by_kind(strimzi, "KafkaConnector").values()
    assert connector["spec"]["autoRestart"] == {"enabled": True}
    [limited] = by_kind(
        render(helm, VALUES["strimzi"], "connect.strimzi.autoRestart.maxRestarts=10"), "KafkaConnector"
    ).values()
    assert limited["spec"]["autoRestart"] == {"enabled": True, "maxRestarts": 10}


def test_production_values_render_sasl_tls_autoscaling_and_monitoring(helm):
    docs = render(helm, VALUES["production"])
    config = by_kind(docs, "ConfigMap")["crm-crmflow"]["data"]
    assert config["CRMFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["CRMFLOW_KAFKA_SASL_USERNAME"] == "crmflow"
    assert config["CRMFLOW_KAFKA_SSL_CA_LOCATION"] == "/etc/crmflow/kafka-ca/ca.crt"
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    # Consumers scale with partitions: maxReplicas 0 means kafka.topicPartitions (12 here).
    assert hpas["crm-crmflow-evaluator"]["spec"]["maxReplicas"] == 12
    assert hpas["crm-crmflow-action-runner"]["spec"]["maxReplicas"] == 12
    assert "replicas" not in by_kind(docs, "Deployment")["crm-crmflow-evaluator"]["spec"]

    [monitor] = by_kind(docs, "ServiceMonitor").values()
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    selected = {e["key"]: set(e["values"]) for e in monitor["spec"]["selector"]["matchExpressions"]}
    services = by_kind(docs, "Service").values()
    assert len(services) == 4  # the three services and the connect-supervisor
    for service in services:
        labels = service["metadata"]["labels"]
        assert all(labels[key] in values for key, values in selected.items())
        assert [p["name"] for p in service["spec"]["ports"]] == ["http"]

    policies = by_kind(docs, "NetworkPolicy")
    assert policies["crm-crmflow-evaluator"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # The rules-api reads the connect-supervisor's /status (port 8004) for the pipeline status.
    api_egress = {
        p["port"] for rule in policies["crm-crmflow-rules-api"]["spec"]["egress"] for p in rule["ports"]
    }
    assert 8004 in api_egress


def test_keda_scales_the_consumers_on_their_group_lag_within_the_partitions(helm, tmp_path):
    docs = render(helm, VALUES["keda"])
    deployments = by_kind(docs, "Deployment")
    scaled = by_kind(docs, "ScaledObject")
    evaluator_group = build_app(Settings(run_dir=str(tmp_path))).conf.id
    assert set(scaled) == {"crm-crmflow-evaluator", "crm-crmflow-action-runner"}
    assert by_kind(docs, "HorizontalPodAutoscaler") == {}
    for name, group, replicas, threshold in [
        ("evaluator", evaluator_group, 12, "2000"),  # maxReplicas 0: kafka.topicPartitions
        ("action-runner", RUNNER_GROUP_ID, 8, "500"),
    ]:
        spec = scaled[f"crm-crmflow-{name}"]["spec"]
        assert scaled[f"crm-crmflow-{name}"]["apiVersion"] == "keda.sh/v1alpha1"
        assert spec["scaleTargetRef"] == {"name": f"crm-crmflow-{name}"}
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, replicas)
        [trigger] = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["authenticationRef"] == {"name": "crmflow-kafka"}
        assert trigger["metadata"] == {
            "bootstrapServers": "b-1.kafka.example.internal:9096,b-2.kafka.example.internal:9096",
            "consumerGroup": group,
            "lagThreshold": threshold,
            "offsetResetPolicy": "earliest",
            "allowIdleConsumers": "false",
        }
        # The scaler owns the replica count: the Deployment does not fight it.
        assert "replicas" not in deployments[f"crm-crmflow-{name}"]["spec"]
    # Off by default, and the Deployments keep their replicas.
    default = render(helm, None)
    assert by_kind(default, "ScaledObject") == {}
    assert by_kind(default, "Deployment")["crm-crmflow-action-runner"]["spec"]["replicas"] == 1


def test_the_consumers_have_a_disruption_budget(manifests):
    budgets = by_kind(manifests, "PodDisruptionBudget")
    for name in ("evaluator", "action-runner"):
        budget = budgets[f"crm-crmflow-{name}"]["spec"]
        assert budget["maxUnavailable"] == 1
        assert budget["selector"]["matchLabels"]["app.kubernetes.io/component"] == name


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ("evaluator.keda.enabled=true", "evaluator.autoscaling.enabled=true"),
            "evaluator.autoscaling.enabled (CPU) and evaluator.keda.enabled (consumer lag) are alternatives",
        ),
        (
            ("actionRunner.keda.enabled=true", "actionRunner.keda.maxReplicas=7"),
            "actionRunner.keda.maxReplicas exceeds kafka.topicPartitions=6",
        ),
        (
            ("actionRunner.keda.enabled=true", "kafka.securityProtocol=SSL"),
            "kafka.securityProtocol SSL needs actionRunner.keda.authenticationRef",
        ),
        (("evaluator.replicas=7",), "evaluator.replicas=7 exceeds kafka.topicPartitions=6"),
        (("actionRunner.autoscaling.maxReplicas=8",), "actionRunner.autoscaling.maxReplicas exceeds"),
        (("connect.strimzi.enabled=true",), "are alternatives"),
        (("kafka.securityProtocol=SASL_SSL",), "needs kafka.sasl.username"),
        (("kafka.securityProtocol=TLS",), "value must be one of"),
    ],
)
def test_the_chart_refuses_configurations_that_cannot_work(helm, sets, message):
    result = _helm(helm, "template", "crm", str(CHART), *_values_args(None, *sets))
    assert result.returncode != 0
    assert message in result.stderr


def test_retention_runs_as_a_cronjob_with_the_runner_loop_off(helm):
    default = render(helm, None)
    [cron] = by_kind(default, "CronJob").values()
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["crmflow", "retention", "run"]
    config = by_kind(default, "ConfigMap")["crm-crmflow"]["data"]
    assert (config["CRMFLOW_RETENTION_DAYS"], config["CRMFLOW_RETENTION_INTERVAL_SECONDS"]) == ("30", "0")
