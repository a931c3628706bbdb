"""Names of the CDC path: the publication and slot Debezium streams the outbox through, and the
headers on every record of a ``crm.*`` topic.

The connector (deploy/connect/crmflow-outbox.json) and migration 0001 cannot import them: unit
tests hold their copies equal (tests/unit/deploy/test_connector_config.py,
tests/unit/crmflow/test_cdc_contract.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

PUBLICATION: Final = "crmflow_outbox"
"""The publication of ``outbox_events`` (inserts only), created by migration 0001; the connector's
``publication.name``."""
SLOT: Final = "crmflow_outbox"
"""The logical replication slot the connector streams through (its ``slot.name``)."""

EVENT_ID_HEADER: Final = "id"
"""The outbox row's id, which the EventRouter sets as a header itself."""
PRACTICE_ID_HEADER: Final = "practiceId"
EVENT_NAME_HEADER: Final = "eventName"
CORRELATION_ID_HEADER: Final = "correlationId"
CAUSATION_ID_HEADER: Final = "causationId"
RULES_SEQ_HEADER: Final = "rulesSeq"
"""The practice's rule changes saved before the record (``outbox_events.rules_seq``)."""

PLACED_HEADERS: Final[Mapping[str, str]] = {
    "practice_id": PRACTICE_ID_HEADER,
    "event_name": EVENT_NAME_HEADER,
    "correlation_id": CORRELATION_ID_HEADER,
    "causation_id": CAUSATION_ID_HEADER,
    "rules_seq": RULES_SEQ_HEADER,
}
"""Outbox column -> the header the EventRouter places it in (``table.fields.additional.placement``)."""
