"""The ``crmflow`` command line (also ``python -m crmflow``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from crmflow.settings import Settings, get_settings


def _print(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.db.migrate import upgrade

    upgrade(settings, args.revision)
    print(f"database migrated to {args.revision}", file=sys.stderr)
    return 0


def cmd_topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.kafka import create_topics

    created = create_topics(settings)
    print(f"topics created: {', '.join(created) or 'none (all exist)'}", file=sys.stderr)
    return 0


def cmd_practice_create(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.apikeys import create_key, create_practice
    from crmflow.db.engine import make_engine

    with make_engine(settings, pool_size=1).begin() as conn:
        practice_id = create_practice(conn, args.name)
        api_key = create_key(conn, practice_id, settings.api_key_secret)
    _print({"id": practice_id, "apiKey": api_key})
    return 0


UNSET = object()  # an option not given (``--quiet-hours none`` is a value: None)


def _quiet_hours(text: str) -> dict[str, str] | None:
    """``21:00-08:00`` -> ``{"start": "21:00", "end": "08:00"}``; ``none`` -> None (no quiet hours)."""
    if text == "none":
        return None
    start, dash, end = text.partition("-")
    if not dash:
        raise argparse.ArgumentTypeError("expected HH:MM-HH:MM (e.g. 21:00-08:00) or none")
    return {"start": start, "end": end}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_practice_set(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.crm.entities import NotFound
    from crmflow.crm.models import is_uuid
    from crmflow.db.engine import make_engine
    from crmflow.practice_settings import update_settings
    from crmflow.validation import DomainValidationError

    options = (("timeZone", args.time_zone), ("quietHours", args.quiet_hours))
    values = {name: value for name, value in options if value is not UNSET}
    if not values:
        print("error: nothing to set (--time-zone and/or --quiet-hours)", file=sys.stderr)
        return 2
    try:
        if not is_uuid(args.practice):  # cannot exist (and would not reach the uuid column)
            raise NotFound("practice", args.practice)
        with make_engine(settings, pool_size=1).begin() as conn:
            _print(update_settings(conn, args.practice, values))
    except NotFound:
        print(f"error: no practice {args.practice}", file=sys.stderr)
        return 2
    except DomainValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.apikeys import create_key, practice_exists
    from crmflow.crm.models import is_uuid
    from crmflow.db.engine import make_engine

    with make_engine(settings, pool_size=1).begin() as conn:
        if not is_uuid(args.practice) or not practice_exists(conn, args.practice):
            print(f"error: no practice {args.practice}", file=sys.stderr)
            return 2
        _print({"apiKey": create_key(conn, args.practice, settings.api_key_secret)})
    return 0


def cmd_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.apikeys import revoke_key
    from crmflow.db.engine import make_engine

    with make_engine(settings, pool_size=1).begin() as conn:
        revoked = revoke_key(conn, args.key, settings.api_key_secret)
    _print({"revoked": revoked})
    return 0 if revoked else 1


def cmd_webhook_secret_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.crm.entities import NotFound
    from crmflow.crm.models import is_uuid
    from crmflow.db.engine import make_engine
    from crmflow.webhook_secrets import SecretBox, rotate

    try:
        if not is_uuid(args.practice):
            raise NotFound("practice", args.practice)
        with make_engine(settings, pool_size=1).begin() as conn:
            secret = rotate(
                conn,
                args.practice,
                SecretBox(settings.secret_key),
                grace_seconds=settings.webhook_secret_grace_seconds,
                revoke_previous=args.revoke_previous,
            )
    except NotFound:
        print(f"error: no practice {args.practice}", file=sys.stderr)
        return 2
    _print({"secret": secret})  # shown this once: the receiver verifies with it
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.demo import run_demo

    return run_demo(settings, timeout=args.timeout)


def cmd_schemas_write(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.schemas import write

    for path in write(args.dir):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_schemas_check(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.schemas import drift

    drifted = drift(args.dir)
    for name in drifted:
        print(f"drift: {args.dir / name} differs from the code (run: crmflow schemas write)", file=sys.stderr)
    return 1 if drifted else 0


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.dlq import read_dead_letters, select

    letters = select(read_dead_letters(settings), reason=args.reason)
    if args.json:
        for dl in letters:
            _print(dl.summary())
        return 0
    import time

    columns = ("offset", "time", "service", "reason", "source", "detail")
    rows = [
        (
            str(dl.offset),
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(dl.timestamp)) if dl.timestamp else "-",
            dl.service,
            dl.reason,
            f"{dl.source_topic}[{dl.source_partition}]@{dl.source_offset}",
            dl.detail.replace("\n", " ")[:100],
        )
        for dl in letters
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in (columns, *rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.dlq import read_dead_letters, replay, select

    offsets = None if args.all else set(args.offset)
    letters = select(read_dead_letters(settings), offsets=offsets, reason=args.reason)
    missing = sorted((offsets or set()) - {dl.offset for dl in letters})
    if missing:
        print(f"error: no dead letter at offset(s) {missing} (with that reason)", file=sys.stderr)
        return 2
    from crmflow.audit import CLI
    from crmflow.db.engine import make_engine
    from crmflow.dlq import audit_replay

    replayed = replay(settings, letters)
    with make_engine(settings, pool_size=1).begin() as conn:  # after the broker acknowledged them
        audit_replay(conn, letters, actor=CLI)
    _print({"replayed": replayed, "offsets": [dl.offset for dl in letters]})
    return 0


def cmd_retention_run(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.db.engine import make_engine
    from crmflow.retention import run_from_settings

    if args.days is not None:
        settings = settings.model_copy(update={"retention_days": args.days})
    if args.batch_size is not None:
        settings = settings.model_copy(update={"retention_batch_size": args.batch_size})
    _print(run_from_settings(make_engine(settings, pool_size=2), settings))
    return 0


def cmd_connector_list(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.connect import ConnectClient

    with ConnectClient(settings.connect_url) as client:
        for name, status in client.statuses().items():
            print(f"connector {name:<24} {status.state} (tasks: {status.summary().split()[1]})")
    return 0


def cmd_connector_unregister(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.connect import ConnectClient, ConnectError

    try:
        with ConnectClient(settings.connect_url, timeout=60) as client:
            deleted = client.unregister(args.name)
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"connector {args.name}: "
        + (
            "deleted, with its stored offsets (its replication slot stays until dropped)"
            if deleted
            else "not registered"
        ),
        file=sys.stderr,
    )
    return 0


def cmd_connector_recover(args: argparse.Namespace, settings: Settings) -> int:
    from crmflow.connector_recovery import recover
    from crmflow.connector_registration import load
    from crmflow.db.engine import make_engine

    _print(recover(settings, make_engine(settings, pool_size=1), load(args.file), args.timeout))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmflow", description=__doc__)
    sub = parser.add_subparsers(dest="group", required=True)

    p = sub.add_parser("migrate", help="apply database migrations (Alembic)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_migrate)

    topics = sub.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create missing topics").set_defaults(func=cmd_topics_create)

    practice = sub.add_parser("practice", help="practices").add_subparsers(dest="action", required=True)
    p = practice.add_parser("create", help='create a practice; prints {"id", "apiKey"}')
    p.add_argument("name")
    p.set_defaults(func=cmd_practice_create)
    p = practice.add_parser("set", help="set a practice's time zone and/or quiet hours; prints the practice")
    p.add_argument("--practice", required=True, help="practice id")
    p.add_argument("--time-zone", default=UNSET, help="IANA name, e.g. Europe/Berlin")
    p.add_argument(
        "--quiet-hours",
        type=_quiet_hours,
        default=UNSET,
        help="HH:MM-HH:MM in the practice's zone (may wrap midnight: 21:00-08:00), or none",
    )
    p.set_defaults(func=cmd_practice_set)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="action", required=True)
    p = key.add_parser("create", help='create an API key; prints {"apiKey"}')
    p.add_argument("--practice", required=True, help="practice id")
    p.set_defaults(func=cmd_key_create)
    p = key.add_parser("revoke", help="revoke a key (the key itself, or its prefix)")
    p.add_argument("key")
    p.set_defaults(func=cmd_key_revoke)

    webhook_secret = sub.add_parser("webhook-secret", help="webhook signing secrets").add_subparsers(
        dest="action", required=True
    )
    p = webhook_secret.add_parser(
        "rotate",
        help='a new signing secret for the practice\'s webhooks; prints {"secret": "whsec_..."} once',
    )
    p.add_argument("--practice", required=True, help="practice id")
    p.add_argument(
        "--revoke-previous",
        action="store_true",
        help="the previous secret stops signing at once (default: it signs beside the new one for "
        "CRMFLOW_WEBHOOK_SECRET_GRACE_SECONDS)",
    )
    p.set_defaults(func=cmd_webhook_secret_rotate)

    from crmflow.schemas import DEFAULT_DIR

    schemas = sub.add_parser("schemas", help="JSON Schemas of the contracts").add_subparsers(
        dest="action", required=True
    )
    for name, func, text in (
        ("write", cmd_schemas_write, "generate schemas/ from the pydantic models"),
        ("check", cmd_schemas_check, "fail when schemas/ differs from the models"),
    ):
        p = schemas.add_parser(name, help=text)
        p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
        p.set_defaults(func=func)

    dlq = sub.add_parser("dlq", help="the dead-letter topic").add_subparsers(dest="action", required=True)
    p = dlq.add_parser("list", help="dead letters: where from and why (never their contents)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--reason", help="only this reason")
    p.set_defaults(func=cmd_dlq_list)
    p = dlq.add_parser("replay", help="re-produce dead letters to their source topic (safe to repeat)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int, action="append", help="dead-letter offset (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter (with --reason: those)")
    p.add_argument("--reason", help="only this reason")
    p.set_defaults(func=cmd_dlq_replay)

    retention = sub.add_parser(
        "retention", help="prune old payloads (CRMFLOW_RETENTION_DAYS)"
    ).add_subparsers(dest="action", required=True)
    p = retention.add_parser(
        "run",
        help="empty outbox payloads, run traces and action-log args older than the retention window, "
        "in batches (progress on stderr; prints a JSON summary)",
    )
    p.add_argument("--days", type=_positive, default=None, help="override CRMFLOW_RETENTION_DAYS")
    p.add_argument("--batch-size", type=_positive, default=None, help="override CRMFLOW_RETENTION_BATCH_SIZE")
    p.set_defaults(func=cmd_retention_run)

    connector_file = Path(__file__).resolve().parents[3] / "deploy" / "connect" / "crmflow-outbox.json"
    connector = sub.add_parser(
        "connector", help="the Debezium connector (Kafka Connect REST)"
    ).add_subparsers(dest="action", required=True)
    connector.add_parser("list", help="every connector and its task states").set_defaults(
        func=cmd_connector_list
    )
    p = connector.add_parser(
        "recover",
        help="after a lost replication slot: re-create the connector and its slot, re-emit the outbox "
        "rows not streamed (prints what it did, the re-emitted event ids included)",
    )
    p.add_argument("file", nargs="?", default=str(connector_file), help="connector JSON {name, config}")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds for each wait")
    p.set_defaults(func=cmd_connector_recover)
    p = connector.add_parser("unregister", help="stop a connector, delete its stored offsets, delete it")
    p.add_argument("name")
    p.set_defaults(func=cmd_connector_unregister)

    p = sub.add_parser(
        "demo", help="seed a demo practice and its two rules, show a welcome note and a waiting reminder"
    )
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())
