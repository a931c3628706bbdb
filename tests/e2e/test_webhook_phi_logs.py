"""No PHI and no secret in the logs of a webhook's life (SPEC sections 7 and 9): rules whose URL,
body and headers carry a patient's name, e-mail and phone and a bearer token run through the real
services to receivers on loopback (one answering, one refusing with an answer that quotes the
patient), the runner at DEBUG; the dry run and the secret rotation are called too. Every new line
of every service log is then scanned for those strings, the practice's webhook secret and the URL
paths."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.support.processes import Service, lines_since, wait_for
from tests.support.rules import create_rule
from tests.support.webhook_receiver import Answer, receiver

pytestmark = pytest.mark.e2e

PATIENT = {
    "firstName": "Leocadia",
    "lastName": "Pemberton-Saavedra",
    "email": "leocadia.pemberton@mailbox.example",
    "phone": "+1 (415) 555-0163",
}
TOKEN = f"tok-{uuid.uuid4().hex}"


def deliveries(engine: Engine, practice_id: str) -> list:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT status, error, detail FROM message_deliveries WHERE practice_id = :p"),
                {"p": practice_id},
            )
        )


def test_webhooks_leave_no_phi_or_secret_in_any_service_log(
    api: httpx.Client, services: dict[str, Service], run_dir, practice: dict[str, str], engine: Engine
) -> None:
    logs = sorted((run_dir / "logs").glob("test-*.log"))
    offsets = {path: path.stat().st_size for path in logs}
    secret = api.post("/api/practice/webhook-secret").json()["secret"]
    with (
        services["runner"].restarted_with(CRMFLOW_LOG_LEVEL="DEBUG"),  # its most talkative
        receiver(secrets=[secret]) as hook,
        receiver(secrets=[secret]) as refusing,
    ):
        refusing.default = Answer(
            status=400, body=json.dumps({"error": f"unknown {PATIENT['email']}"}).encode()
        )
        body = {
            "name": "{patient.firstName} {patient.lastName}",
            "email": "{patient.email}",
            "phone": "{patient.phone}",
        }
        for target in (hook, refusing):
            create_rule(
                api,
                services["evaluator"],
                triggerEvent="crm/patient.created",
                actionsJson=[
                    {
                        "type": "send_webhook",
                        "args": {
                            "url": target.url("/patients/{patient.lastName}"),
                            "body": body,
                            "headers": {"Authorization": f"Bearer {TOKEN}"},
                        },
                    }
                ],
            )
        dry = api.post(
            "/api/webhooks/test",
            json={
                "url": hook.url("/patients/{patient.lastName}"),
                "body": body,
                "data": {"patient": PATIENT},
            },
        )
        assert dry.status_code == 200, dry.text
        assert api.post("/api/patients", json=PATIENT).status_code == 201
        wait_for(lambda: len(hook.requests) == 1 and len(refusing.requests) == 1, 30, what="both webhooks")
        wait_for(
            lambda: sorted(r.status for r in deliveries(engine, practice["id"])) == ["delivered", "failed"],
            30,
            what="both deliveries final",
        )
    (request,) = hook.requests
    assert request.verified and json.loads(request.body)["email"] == PATIENT["email"]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    failed = next(r for r in deliveries(engine, practice["id"]) if r.status == "failed")
    assert PATIENT["email"] not in failed.error and "HTTP 400" in failed.error

    needles = [
        PATIENT["firstName"],
        PATIENT["lastName"],
        PATIENT["email"],
        PATIENT["phone"],
        "555-0163",
        TOKEN,
        secret,
        secret.removeprefix("whsec_"),
        "/patients/",
    ]
    found = []
    scanned = 0
    for path in logs:
        for number, line in enumerate(lines_since(path, offsets[path]), 1):
            scanned += 1
            found += [f"{path.name}: new line {number}: {n!r}" for n in needles if n in line]
    print(f"\nwebhook PHI scan: {scanned} new log lines scanned for {len(needles)} strings")
    assert not found, found[:20]
