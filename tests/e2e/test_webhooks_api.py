"""Webhook secrets and the dry run on the running rules-api (SPEC section 9): the secret is shown
once, stored encrypted, rotated with a grace period (two signatures) or revoked at once; the dry
run returns a request the independent ``standardwebhooks`` package verifies, and sends nothing;
a rule with a literal refused URL is refused at its url; the CLI rotates as the API does."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
import standardwebhooks
from sqlalchemy import Engine, text

from crmflow.settings import Settings
from crmflow.webhook_secrets import SecretBox
from crmflow.webhook_signing import SIGNATURE_HEADER, parse_secret
from tests.support.api import locs
from tests.support.processes import ROOT
from tests.support.webhook_receiver import receiver

pytestmark = pytest.mark.e2e


def verify(secret: str, request: dict[str, Any]) -> None:
    standardwebhooks.Webhook(secret).verify(request["body"].encode(), request["headers"], json_parse=False)


def test_rotation_shows_the_secret_once_and_the_previous_one_signs_during_the_grace_period(
    api: httpx.Client, other: httpx.Client, engine: Engine, settings: Settings, practice: dict[str, str]
) -> None:
    assert api.get("/api/practice/webhook-secret").json()["configured"] is False
    assert api.post("/api/webhooks/test", json={"url": "https://example.com/h"}).status_code == 409

    first = api.post("/api/practice/webhook-secret")
    assert first.status_code == 201, first.text
    secret1 = first.json()["secret"]
    assert secret1.startswith("whsec_") and len(parse_secret(secret1)) == 32
    status = api.get("/api/practice/webhook-secret").json()
    assert status["configured"] is True and "secret" not in status
    assert secret1 not in api.get("/api/practice/webhook-secret").text

    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT secret_encrypted FROM webhook_secrets WHERE practice_id = :p"), {"p": practice["id"]}
        ).scalar_one()
    assert secret1.removeprefix("whsec_") not in stored
    assert SecretBox(settings.secret_key).decrypt(stored) == parse_secret(secret1)

    secret2 = api.post("/api/practice/webhook-secret", json={}).json()["secret"]
    assert secret2 != secret1
    request = api.post("/api/webhooks/test", json={"url": "https://example.com/h"}).json()
    assert len(request["headers"][SIGNATURE_HEADER].split(" ")) == 2  # new and previous
    verify(secret2, request)
    verify(secret1, request)
    assert api.get("/api/practice/webhook-secret").json()["previousSignsUntil"] is not None

    secret3 = api.post("/api/practice/webhook-secret", json={"revokePrevious": True}).json()["secret"]
    request = api.post("/api/webhooks/test", json={"url": "https://example.com/h"}).json()
    assert len(request["headers"][SIGNATURE_HEADER].split(" ")) == 1
    verify(secret3, request)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        verify(secret2, request)

    # Another practice has its own (none yet).
    assert other.get("/api/practice/webhook-secret").json()["configured"] is False
    assert other.post("/api/webhooks/test", json={"url": "https://example.com/h"}).status_code == 409
    assert api.post("/api/practice/webhook-secret", json={"bogus": 1}).status_code == 422

    # Every rotation is in the practice's audit log, never the secret.
    audit = api.get("/api/audit", params={"entityType": "webhook_secret"})
    assert [e["action"] for e in audit.json()["items"]] == ["webhook_secret.rotate"] * 3
    assert not any(s in audit.text for s in (secret1, secret2, secret3))


def test_the_dry_run_renders_and_signs_without_sending(api: httpx.Client) -> None:
    secret = api.post("/api/practice/webhook-secret").json()["secret"]
    with receiver(secrets=[secret]) as hook:
        data = {"patient": {"id": "p-1", "firstName": "Ada", "status": "active"}}
        response = api.post(
            "/api/webhooks/test",
            json={
                "url": hook.url("/hooks/{patientId}"),
                "body": {"patient": "{patient.id}", "status": "{patient.status}", "n": 3},
                "headers": {"Authorization": "Bearer receiver-token"},
                "eventName": "crm/patient.created",
                "data": data,
            },
        )
        assert response.status_code == 200, response.text
        request = response.json()
        assert request["method"] == "POST" and request["sent"] is False
        assert request["url"] == hook.url("/hooks/p-1")
        assert json.loads(request["body"]) == {"patient": "p-1", "status": "active", "n": 3}
        assert request["headers"]["Authorization"] == "Bearer receiver-token"
        assert request["headers"]["content-type"] == "application/json"
        assert request["headers"]["webhook-id"].startswith("msg_dryrun_")
        verify(secret, request)

        # Without a body: the event envelope, the trigger's sample data when none is given.
        request = api.post(
            "/api/webhooks/test", json={"url": hook.url(), "eventName": "crm/appointment.created"}
        )
        envelope = json.loads(request.json()["body"])
        assert envelope["name"] == "crm/appointment.created" and envelope["entityType"] == "appointment"
        assert set(envelope["data"]) >= {"appointment", "patient"}
        assert hook.requests == []  # nothing was sent


def test_the_dry_run_and_rule_saves_refuse_bad_destinations_at_the_field(api: httpx.Client) -> None:
    api.post("/api/practice/webhook-secret")
    for body, loc in (
        ({"url": "https://169.254.169.254/latest"}, ["body", "url"]),
        ({"url": "http://93.184.215.14/h"}, ["body", "url"]),  # plain http outside the allow-list
        ({"url": "https://[::ffff:10.0.0.1]/h"}, ["body", "url"]),
        ({"url": "https://example.com", "headers": {"Host": "evil"}}, ["body", "headers"]),
        ({"url": "https://example.com", "headers": {"webhook-signature": "v1,x"}}, ["body", "headers"]),
        ({"url": "https://example.com", "body": {"a": "{nope}"}}, ["body", "body", "a"]),
        ({"url": "https://example.com", "eventName": "crm/nothing"}, ["body", "eventName"]),
    ):
        assert loc in locs(api.post("/api/webhooks/test", json=body)), body

    rule = {
        "name": "Webhook",
        "triggerEvent": "crm/patient.created",
        "actionsJson": [
            {"type": "create_note", "args": {"patientId": "{patientId}", "body": "x"}},
            {"type": "send_webhook", "args": {"url": "http://0x7f000001.example/h"}},
            {"type": "send_webhook", "args": {"url": "https://10.1.2.3/h"}},
        ],
    }
    assert locs(api.post("/api/automations", json=rule)) == [
        ["body", "actionsJson", 2, "args", "url"]
    ]  # the first is a name (checked when sent); plain http is allowed here: the test stack allow-lists 127/8
    webhook = {
        "type": "send_webhook",
        "args": {"url": "http://127.0.0.1:9/hook", "body": {"p": "{patientId}"}},
    }
    rule["actionsJson"] = [rule["actionsJson"][0], webhook]
    created = api.post("/api/automations", json=rule)
    assert created.status_code == 201, created.text
    patch = {"actionsJson": [{"type": "send_webhook", "args": {"url": "https://[fd00:ec2::254]/h"}}]}
    assert locs(api.patch(f"/api/automations/{created.json()['id']}", json=patch)) == [
        ["body", "actionsJson", 0, "args", "url"]
    ]


def test_the_cli_rotates_and_prints_the_secret_once(practice: dict[str, str], api: httpx.Client) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmflow", "webhook-secret", "rotate", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = cli("--practice", practice["id"])
    assert done.returncode == 0, done.stderr
    secret = json.loads(done.stdout)["secret"]
    assert parse_secret(secret) and secret not in done.stderr
    verify(secret, api.post("/api/webhooks/test", json={"url": "https://example.com/h"}).json())
    again = json.loads(cli("--practice", practice["id"], "--revoke-previous").stdout)["secret"]
    request = api.post("/api/webhooks/test", json={"url": "https://example.com/h"}).json()
    assert len(request["headers"][SIGNATURE_HEADER].split(" ")) == 1
    verify(again, request)
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        missing = cli("--practice", unknown)
        assert missing.returncode == 2 and "no practice" in missing.stderr
