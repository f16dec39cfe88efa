"""A resumable analytics consumer: follows relledger's log through a named subscription and
stores every event once in a local SQLite file.

    python consumer.py --server 127.0.0.1:50051 --name analytics --db events.sqlite

- Events come in batches (`max_batch`); each batch is written in one SQLite transaction, the
  log position as the primary key.
- Every `--ack-every` events the consumer acknowledges its position to the server, after the
  transaction that stored them has committed.
- Killed at any point and started again, it resumes after its last acknowledgement. Events
  it stored after that come again, and the primary key drops them: each event is in the file
  exactly once.
- `--exit-when-caught-up` stops it once it has stored everything the log held when it
  (re)started; without it, it follows the log live.
"""

import argparse
import pathlib
import sqlite3
import sys

import grpc
from google.protobuf import json_format

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "relledger_gen"))
from relledger.v1 import ledger_pb2, ledger_pb2_grpc  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    account_id  TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    event_json  TEXT NOT NULL
)
"""


def store(db: sqlite3.Connection, events) -> int:
    """Stores a batch in one transaction; the number of events new to the file."""
    rows = [
        (
            e.position,
            e.account_id,
            e.revision,
            e.event_type,
            e.event.event_id,
            e.recorded_at.ToJsonString(),
            json_format.MessageToJson(e.event, indent=None),
        )
        for e in events
    ]
    with db:
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return db.total_changes - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--name", default="analytics", help="the named subscription")
    parser.add_argument("--db", default="events.sqlite")
    parser.add_argument("--ack-every", type=int, default=100)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--exit-when-caught-up", action="store_true")
    args = parser.parse_args()

    db = sqlite3.connect(args.db)
    db.execute(SCHEMA)
    ledger = ledger_pb2_grpc.LedgerStub(grpc.insecure_channel(args.server))

    # No start: after the subscription's acknowledged position, or from the log's start.
    request = ledger_pb2.SubscribeRequest(subscription_name=args.name, max_batch=args.max_batch)
    last = None  # the last position stored
    unacked = 0

    def ack():
        nonlocal unacked
        if last is not None and unacked:
            ledger.AckSubscription(ledger_pb2.AckSubscriptionRequest(name=args.name, position=last))
            print(f"acknowledged {last}", flush=True)
            unacked = 0

    for message in ledger.Subscribe(request):
        kind = message.WhichOneof("kind")
        if kind == "events":
            events = message.events.events
            new = store(db, events)
            last = events[-1].position
            unacked += len(events)
            print(f"stored up to {last} ({new} new)", flush=True)
            if unacked >= args.ack_every:
                ack()
        elif kind == "caught_up":
            ack()
            print(f"caught up: the log holds {message.caught_up.next_position}", flush=True)
            if args.exit_when_caught_up:
                break
    ack()
    return 0


if __name__ == "__main__":
    sys.exit(main())
