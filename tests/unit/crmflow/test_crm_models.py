"""The API's response models and the row <-> JSON maps that fill them name the same fields."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from crmflow.crm import models, serialize


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (models.Patient, serialize.PATIENT_FIELDS),
        (models.Appointment, serialize.APPOINTMENT_FIELDS),
        (models.Note, serialize.NOTE_FIELDS),
        (models.Task, serialize.TASK_FIELDS),
        (models.Draft, serialize.DRAFT_FIELDS),
    ],
)
def test_a_response_model_has_exactly_the_fields_its_row_serializes_to(
    model: type[BaseModel], fields: dict[str, str]
) -> None:
    # Same names in the same order: the documented schema lists what to_json returns, as it orders it.
    assert list(model.model_fields) == list(fields)
