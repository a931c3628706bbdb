from crmflow.commands import command_key, run_id_for


def test_run_ids_are_deterministic_per_event_and_rule():
    assert run_id_for("e1", "r1") == run_id_for("e1", "r1")
    assert run_id_for("e1", "r1") != run_id_for("e1", "r2")
    assert run_id_for("e1", "r1") != run_id_for("e2", "r1")


def test_commands_are_keyed_by_practice_and_patient():
    assert command_key("p", "pat", "ent") == b"p:pat"
    assert command_key("p", None, "ent") == b"p:ent"
