"""Benchmark: per-request latency of the DynamoDB emulator (local/dynamo) against moto.

Both run as the local stack runs them (child processes on loopback); the client is boto3,
as in the functions, so the times include botocore's own work (about 1 ms a call).
Measured: PutItem, GetItem (ConsistentRead), Query of a 2-item partition and of a
1,000-item partition (one page), each ``--requests`` times after a warm-up.

    .venv/bin/python -m bench.dynamo_latency [--requests 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

import boto3  # noqa: E402

from chatflow.ws.connections import batch_write, create_table  # noqa: E402
from local.services import LocalDynamoDB, MotoDynamoDB  # noqa: E402

TABLE = "latency-bench"


def timed(call: Callable[[], Any], requests: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
    }


def measure(endpoint: str, requests: int) -> dict[str, dict[str, float]]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - emulator credentials
    )
    create_table(client, TABLE)

    def item(pk: str, n: int) -> dict[str, Any]:
        return {
            "pk": {"S": pk},
            "sk": {"S": f"CONN#c{n:05}#s1"},
            "connectionId": {"S": f"c{n:05}"},
            "subscriptionId": {"S": "s1"},
            "destination": {"S": "/topic/rooms/big"},
            "userId": {"S": f"u{n}"},
            "expiresAt": {"N": str(int(time.time()) + 7800)},
        }

    batch_write(client, TABLE, [{"PutRequest": {"Item": item("ROOM#small", n)}} for n in (1, 2)])
    batch_write(client, TABLE, [{"PutRequest": {"Item": item("ROOM#big", n)}} for n in range(1000)])
    counter = iter(range(10**9))

    def query(pk: str, expected: int) -> Callable[[], Any]:
        def call() -> None:
            reply = client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
            assert reply["Count"] == expected, reply["Count"]

        return call

    key = {"pk": {"S": "ROOM#small"}, "sk": {"S": "CONN#c00001#s1"}}
    return {
        "PutItem": timed(
            lambda: client.put_item(TableName=TABLE, Item=item("ROOM#put", next(counter))),
            requests,
        ),
        "GetItem": timed(
            lambda: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True), requests
        ),
        "Query 2 items": timed(query("ROOM#small", 2), requests),
        "Query 1,000 items": timed(query("ROOM#big", 1000), max(20, requests // 4), 5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dynamo-bench-") as folder:
        with MotoDynamoDB(Path(folder) / "moto") as moto:
            assert isinstance(moto, MotoDynamoDB)
            results["moto"] = measure(moto.endpoint, args.requests)
        with LocalDynamoDB(Path(folder) / "dynamodb") as emulator:
            assert isinstance(emulator, LocalDynamoDB)
            results["emulator"] = measure(emulator.endpoint, args.requests)
    print(f"{'operation':<20}{'moto p50/p95 ms':>20}{'emulator p50/p95 ms':>24}")
    for operation in results["moto"]:
        m, e = results["moto"][operation], results["emulator"][operation]
        print(
            f"{operation:<20}{m['p50_ms']:>12.2f} / {m['p95_ms']:<7.2f}"
            f"{e['p50_ms']:>14.2f} / {e['p95_ms']:<7.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
