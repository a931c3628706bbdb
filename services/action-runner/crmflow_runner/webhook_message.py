"""The outbound message of a ``send_webhook`` action: what the delivery queue hands the webhook
sender. Its body is fixed here, once, so every attempt sends (and signs) the same bytes."""

from __future__ import annotations

from typing import Any

from crmflow.webhook_request import body_text
from crmflow_runner.run_context import RunContext
from crmflow_runner.sending.outcome import OutboundMessage


def webhook_message(ctx: RunContext, args: Any, key: str) -> OutboundMessage:
    """``args``: the rendered, parsed ``SendWebhookArgs``; ``key``: the delivery's idempotency key
    (the receiver's ``webhook-id``)."""
    return OutboundMessage(
        channel="webhook",
        idempotency_key=key,
        practice_id=ctx.practice_id,
        to=args.url,
        body=body_text(args.body, ctx.command.get("event") or {}),
        headers=dict(args.headers or {}),
    )
