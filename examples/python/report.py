"""The relationship report: every PARTNER and FRIEND account with its alerts, as CSV.

    python report.py --server 127.0.0.1:50051 --out report.csv
"""

import argparse
import csv
import pathlib
import sys

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "relledger_gen"))
from relledger.v1 import relationships_pb2, relationships_pb2_grpc  # noqa: E402

COLUMNS = ["account_id", "name", "owner", "quadrant", "level", "trust", "alert_codes", "alerts"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--out", default="report.csv")
    args = parser.parse_args()

    stub = relationships_pb2_grpc.RelationshipsStub(grpc.insecure_channel(args.server))
    quadrant = relationships_pb2.Quadrant
    level = relationships_pb2.Level
    request = relationships_pb2.ListRelationshipsRequest(
        quadrants=[quadrant.QUADRANT_PARTNER, quadrant.QUADRANT_FRIEND], page_size=500
    )
    rows = 0
    with open(args.out, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        while True:
            page = stub.ListRelationships(request)
            for r in page.relationships:
                writer.writerow(
                    [
                        r.account_id,
                        r.profile.name,
                        r.profile.owner,
                        quadrant.Name(r.quadrant),
                        level.Name(r.level),
                        r.organizational_trust.score,
                        " ".join(a.code for a in r.alerts),
                        " | ".join(a.message for a in r.alerts),
                    ]
                )
                rows += 1
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    print(f"wrote {rows} relationships to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
