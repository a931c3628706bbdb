from crmflow.phi import minimal_args


def test_free_text_is_redacted_ids_and_numbers_stay():
    args = {"patientId": "p1", "body": "Jane has diabetes", "subject": "Hi Jane", "seconds": 5}
    assert minimal_args(args) == {
        "patientId": "p1",
        "body": {"redacted": True, "chars": 17},
        "subject": {"redacted": True, "chars": 7},
        "seconds": 5,
    }


def test_update_fields_keep_their_names_not_their_values():
    out = minimal_args({"patientId": "p1", "fields": {"status": "inactive", "tags": ["a", "b"]}})
    assert out["fields"] == {"status": {"redacted": True, "chars": 8}, "tags": {"redacted": True, "items": 2}}


def test_assignee_and_channel_stay_nested_free_text_does_not():
    args = {"assignee": "front-desk", "channel": "sms", "description": None, "dueInSeconds": 60}
    assert minimal_args(args) == args
    assert minimal_args({"title": ["Ada", "Lovelace"], "extra": {"note": "x"}}) == {
        "title": {"redacted": True, "items": 2},
        "extra": {"redacted": True, "items": 1},
    }
    assert minimal_args("not an object") == {"redacted": True, "chars": 13}
