"""Consent and addresses (SPEC section 9), and the idempotency keys of deliveries."""

from __future__ import annotations

from crmflow.deliveries import NO_ADDRESS, NO_CONSENT, draft_key, recipient, run_key


def test_a_message_needs_opt_in_then_an_address() -> None:
    patient = {"email": "a@example.test", "phone": "+15550001", "emailOptIn": True, "smsOptIn": False}
    assert recipient(patient, "email") == ("a@example.test", None)
    assert recipient(patient, "sms") == (None, NO_CONSENT)
    assert recipient({**patient, "smsOptIn": True}, "sms") == ("+15550001", None)
    assert recipient({**patient, "email": None}, "email") == (None, NO_ADDRESS)
    assert recipient({**patient, "email": ""}, "email") == (None, NO_ADDRESS)
    assert recipient({"email": None, "emailOptIn": False}, "email") == (None, NO_CONSENT)  # consent first
    assert recipient({"email": "a@example.test"}, "email") == (None, NO_CONSENT)  # absent: no consent
    assert recipient({**patient, "emailOptIn": "true"}, "email") == (None, NO_CONSENT)  # only True


def test_keys_are_stable_per_action_and_per_approval() -> None:
    assert run_key("r1", 2) == run_key("r1", 2) == "r1.2"
    assert run_key("r1", 2) != run_key("r1", 3)
    assert draft_key("d1", 1) == "draft-d1.1" != draft_key("d1", 2)
