"""Rule reads that lock: a PATCH validates against a state no other PATCH can replace meanwhile."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crmflow.rules_repo import create_rule, get_rule

pytestmark = pytest.mark.integration


def test_a_locked_rule_waits_for_the_holder_and_a_plain_read_does_not(engine, practice):
    with engine.begin() as conn:
        rule = create_rule(
            conn,
            practice["id"],
            {"name": "r", "enabled": True, "triggerEvent": "crm/patient.created", "actionsJson": []},
        )
    with engine.begin() as holder:
        assert get_rule(holder, practice["id"], rule["id"], lock=True) == rule
        with engine.connect() as other:
            other.execute(text("SET lock_timeout = '200ms'"))
            assert get_rule(other, practice["id"], rule["id"]) == rule  # reading is never blocked
            with pytest.raises(OperationalError, match="lock timeout"):
                get_rule(other, practice["id"], rule["id"], lock=True)
            other.rollback()
