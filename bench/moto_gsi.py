"""moto GSI Query benchmark: a Query on one index partition of fixed size, as the table grows, index on and off.

In-process moto (mock_aws) with infra.localcloud.moto_patches applied, as the local cloud's moto
process runs it. A table shaped like the AppTable (pk/sk, gsi1 on gsi1pk/gsi1sk, projection ALL)
holds --partition items per gsi1pk value; items go straight into the backend (Table.put_item, which
keeps the index map up to date). For each table size, the same Queries (one page of a random gsi1
partition, through boto3) are timed:
  on    the patched path: moto's query over the asked partition of the index map
  off   inside moto_index.bypassed(): moto's own Query, which sorts the whole table every time
The first Query of each mode is a warm-up (it builds the index map) and is not timed.

Keys (milliseconds are per Query, the client's view in this process: botocore, moto's responses
layer, the query):
  on_<n>_p50_ms / off_<n>_p50_ms   median latency at n items
  speedup_<n>                      off / on at n items
  on_growth / off_growth           latency at the largest size / at the smallest (1.0: flat)
Human lines first, then one JSON object as the last line. Timings are reported, never asserted.

    .venv/bin/python bench/moto_gsi.py [--sizes 1000 20000] [--partition 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

ACCOUNT = "123456789012"
REGION = "us-east-1"


def say(message: str) -> None:
    print(message, flush=True)


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": attr, "AttributeType": "S"} for attr in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def fill(name: str, count: int, partition: int) -> int:
    """`count` items, `partition` to each gsi1pk value (and a few without gsi1 keys); the number of groups."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].get_table(name)
    groups = max(1, count // partition)
    for i in range(count):
        item = {
            "pk": {"S": f"wallet#{i:06d}"},
            "sk": {"S": "profile"},
            "score": {"N": str(i % 997)},
            "label": {"S": f"holder {i}"},
        }
        if i % 50:  # every 50th item is not in the index (sparse)
            item["gsi1pk"] = {"S": f"segment#{i % groups:05d}"}
            item["gsi1sk"] = {"S": f"{i % 997:04d}#{i:06d}"}
        table.put_item(item)
    return groups


def time_queries(client: Any, name: str, groups: int, calls: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    took: list[float] = []
    for _ in range(calls + 1):
        started = time.perf_counter()
        client.query(
            TableName=name,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :g",
            ExpressionAttributeValues={":g": {"S": f"segment#{rng.randrange(groups):05d}"}},
            Limit=100,
        )
        took.append((time.perf_counter() - started) * 1000)
    return took[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--partition", type=int, default=20, help="items per gsi1pk value")
    parser.add_argument("--calls", type=int, default=200, help="timed Queries per size and mode (index on)")
    parser.add_argument("--calls-off", type=int, default=30, help="timed Queries per size with the index off")
    args = parser.parse_args()

    import boto3
    from moto import mock_aws

    from infra.localcloud import moto_index, moto_patches

    moto_patches.apply()
    results: dict[str, Any] = {"bench": "moto_gsi", "partition_items": args.partition}
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for size in args.sizes:
            name = f"bench-{size}"
            create_table(client, name)
            started = time.perf_counter()
            groups = fill(name, size, args.partition)
            say(f"{size} items in {groups} gsi1 partitions, loaded in {time.perf_counter() - started:.1f} s")
            served = moto_index.QUERIES["index"]
            on = time_queries(client, name, groups, args.calls, seed=size)
            assert moto_index.QUERIES["index"] - served == args.calls + 1, "the index did not answer"
            with moto_index.bypassed():
                off = time_queries(client, name, groups, args.calls_off, seed=size)
            label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
            results[f"on_{label}_p50_ms"] = round(statistics.median(on), 3)
            results[f"off_{label}_p50_ms"] = round(statistics.median(off), 3)
            results[f"speedup_{label}"] = round(statistics.median(off) / statistics.median(on), 2)
            say(
                f"{size:>6} items: index on p50 {statistics.median(on):.2f} ms, off p50 {statistics.median(off):.2f} ms"
            )
    first, last = args.sizes[0], args.sizes[-1]
    labels = [f"{size // 1000}k" if size % 1000 == 0 else str(size) for size in (first, last)]
    results["on_growth"] = round(results[f"on_{labels[1]}_p50_ms"] / results[f"on_{labels[0]}_p50_ms"], 2)
    results["off_growth"] = round(results[f"off_{labels[1]}_p50_ms"] / results[f"off_{labels[0]}_p50_ms"], 2)
    say(json.dumps(results))


if __name__ == "__main__":
    main()
