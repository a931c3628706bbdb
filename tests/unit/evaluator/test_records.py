import json

from crmflow.commands import RunCommand
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.records import encode_command, header_ids, header_rules_seq
from crmflow_evaluator.rules_index import RulesIndex
from tests.unit.evaluator.test_evaluation import SOURCE, event, rule


def test_commands_decode_to_the_messages_with_the_record_bytes_as_the_event():
    index = RulesIndex()
    index.apply("r1", rule("r1"))
    index.apply("r2", rule("r2", conditions={"field": "patient.phone", "operator": "exists"}))
    ev = event()
    raw = json.dumps(ev, indent=1).encode()  # whatever the producer's formatting
    messages = evaluate_event(ev, index, max_depth=3, source=SOURCE).messages
    decoded = [json.loads(encode_command(m, raw)) for m in messages]
    assert decoded == json.loads(json.dumps(messages))
    matched = RunCommand.model_validate(decoded[1])
    assert matched.status == "matched" and matched.event == ev
    assert decoded[2]["status"] == "skipped" and decoded[2]["event"] is None


def test_header_ids_are_the_log_fields_of_an_unreadable_record():
    headers = [("id", b"e1"), ("correlationId", b"c1"), ("causationId", None), ("practiceId", b"p1")]
    assert header_ids(headers) == {"eventId": "e1", "correlationId": "c1"}
    assert header_ids(None) == {}


def test_rules_seq_header_of_an_event():
    assert header_rules_seq([("id", b"e1"), ("rulesSeq", b"12")]) == 12
    assert header_rules_seq({"rulesSeq": b"3"}) == 3
    # not written through the outbox, or unreadable: nothing to wait for
    assert header_rules_seq([("id", b"e1")]) == 0
    assert header_rules_seq(None) == 0
    assert header_rules_seq([("rulesSeq", b"x")]) == 0
