"""deploy/grafana/crmflow-dashboard.json queries only metrics the services expose, with their labels."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import crmflow_api.metrics
import crmflow_evaluator.metrics
import crmflow_runner.metrics
import crmflow_supervisor.metrics
from tests.support.processes import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "crmflow-dashboard.json"
SERVICE_METRICS = (
    crmflow_api.metrics,
    crmflow_evaluator.metrics,
    crmflow_runner.metrics,
    crmflow_supervisor.metrics,
)
GROUPING = re.compile(r"\bby \(([^)]*)\)")
# What is not a metric name: label matchers, ranges, strings and groupings; numbers; functions;
# the binary and aggregation keywords.
NOT_NAMES = re.compile(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"|\b(?:by|without|on|ignoring)\s*\([^)]*\)')
NAME = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
ALWAYS = {"namespace", "job", "instance", "le"}  # added by the scrape / histograms


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _exposed() -> dict[str, set[str]]:
    """Sample names the services serve -> label names: the services' metrics (a counter as _total,
    a histogram as _bucket/_count/_sum) plus the default process/platform collectors."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exposed: dict[str, set[str]] = {}
    for module in SERVICE_METRICS:
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                for family in metric.describe():
                    for suffix in suffixes[family.type]:
                        exposed[family.name + suffix] = set(metric._labelnames)
    for family in REGISTRY.collect():
        for sample in family.samples:
            exposed.setdefault(sample.name, set(sample.labels))
    return exposed


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression reads, with or without a selector."""
    return {name for name in NAME.findall(NOT_NAMES.sub(" ", expr)) if name.lower() not in KEYWORDS}


def test_metric_names_are_found_with_or_without_a_selector():
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_seconds_bucket{x=~"$y"}[$__rate_interval])))'
        " or on (job) b_total * 1e3 or process_resident_memory_bytes offset 5m or vector(0)"
    )
    assert _metric_names(expr) == {"a_seconds_bucket", "b_total", "process_resident_memory_bytes"}


def test_is_a_grafana_dashboard_with_a_prometheus_datasource_variable(dashboard):
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_queries_only_metrics_the_services_expose(dashboard):
    exposed = _exposed()
    used = {name for expr in _exprs(dashboard) for name in _metric_names(expr)}
    assert {"crmflow_evaluator_events_consumed_total", "crmflow_runner_runs_total"} <= used
    assert used - set(exposed) == set()


def test_groups_only_by_labels_the_metrics_have(dashboard):
    exposed = _exposed()
    for expr in _exprs(dashboard):
        metric_labels = set().union(*(exposed[name] for name in _metric_names(expr)))
        for grouping in GROUPING.findall(expr):
            labels = {label.strip() for label in grouping.split(",")}
            assert labels - metric_labels - ALWAYS == set(), expr


def test_covers_the_issue_metrics(dashboard):
    text = " ".join(_exprs(dashboard))
    for metric in (
        "crmflow_evaluator_events_consumed_total",
        "crmflow_evaluator_evaluations_total",
        "crmflow_runner_runs_total",
        "crmflow_runner_actions_total",
        "crmflow_evaluator_dead_lettered_total",
        "crmflow_runner_dead_lettered_total",
        "crmflow_end_to_end_seconds_bucket",
        "crmflow_runner_consumer_lag",
        "crmflow_evaluator_consumer_lag",
        "crmflow_api_requests_total",
        "crmflow_connector_restarts_total",
        "crmflow_connector_state",
    ):
        assert metric in text
