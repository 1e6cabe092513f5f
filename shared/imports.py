"""Background CSV imports of contacts: any size, in chunks, with progress.

POST /contacts/imports stores the file as chunks of CHUNK_ROWS rows (IMPORT#<job> CHUNK#n, kept at
most CHUNK_TTL_S) and queues one message per chunk; the API function, fed by the imports queue, imports
each chunk (shared.contacts.import_csv) and adds its counts to the job's STATUS item in the transaction
that marks the chunk done, so a redelivered chunk is skipped and never counted twice. Messages carry ids
only: the rows, which are personal data, stay in the table and are removed as each chunk finishes.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared import contacts
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_items
from shared.store.queue import send_batch
from shared.store.transact import cancellation_reasons

CHUNK_ROWS = 50
CHUNK_TTL_S = 7 * 86_400
MAX_REPORTED_ERRORS = 200
MAX_BACKGROUND_ROWS = 100_000
COUNT_CHUNK = "ADD chunks_done :one, created :c, updated :u, unchanged :n, failed_rows :f"


class ImportJob(BaseModel):
    job_id: str
    state: Literal["running", "done"]
    rows: int
    chunks: int
    chunks_done: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed_rows: int = 0
    errors: list[contacts.ImportRowError] = Field(description=f"the first {MAX_REPORTED_ERRORS} bad rows")
    progress: float = Field(description="chunks_done / chunks")


class ChunkJob(BaseModel):
    job_id: str
    chunk: int


def _split(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(the header, [(line offset, chunk CSV text)]): each chunk re-serialised with the header."""
    for _ in contacts.csv_rows(text):  # validates the header (unknown or missing columns) before anything is stored
        break
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise contacts.ContactError("the CSV is empty", "csv") from None
    chunks: list[tuple[int, str]] = []
    rows: list[list[str]] = []
    first_line = 2
    try:
        for row in reader:
            if not rows:
                first_line = reader.line_num
            rows.append(row)
            if len(rows) == CHUNK_ROWS:
                chunks.append((first_line - 2, _csv_text(header, rows)))
                rows = []
    except csv.Error as exc:
        raise contacts.ContactError(f"the CSV is malformed at line {reader.line_num}: {exc}", "csv") from None
    if rows:
        chunks.append((first_line - 2, _csv_text(header, rows)))
    return header, chunks


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def start_import(text: str, default_source: str | None, key_id: str, settings: Settings) -> ImportJob:
    if not settings.import_queue_url:
        raise RuntimeError("IMPORT_QUEUE_URL is not set: background imports cannot be queued")
    _, chunks = _split(text)
    rows = sum(chunk.count("\n") - 1 for _, chunk in chunks)
    if rows > MAX_BACKGROUND_ROWS:
        raise contacts.ContactError(f"the file has more than {MAX_BACKGROUND_ROWS} rows; split it", "csv")
    job_id = secrets.token_hex(8)
    now = int(time.time())
    status = {
        **keys.import_status_key(job_id),
        "rows": rows,
        "chunks": len(chunks),
        "chunks_done": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "failed_rows": 0,
        "errors": "[]",
        "key_id": key_id,
        "source": default_source,
        "started_at": now,
        "expires_at": now + CHUNK_TTL_S,
    }
    chunk_items = [
        {
            **keys.import_chunk_key(job_id, number),
            "text": chunk,
            "line_offset": offset,
            "expires_at": now + CHUNK_TTL_S,
        }
        for number, (offset, chunk) in enumerate(chunks)
    ]
    items: list[dict[str, Any]] = [status, *chunk_items]
    dynamo.batch_write(settings.app_table, puts=[dynamo.to_item(i) for i in items])
    messages = [ChunkJob(job_id=job_id, chunk=n).model_dump_json() for n in range(len(chunks))]
    send_batch(settings.import_queue_url, messages, what="contact import chunks")
    return import_status(job_id, settings)


def run_chunk(job: ChunkJob, settings: Settings) -> bool:
    """Import one chunk; False when it was done already (a redelivery)."""
    db = dynamo.client("dynamodb")
    item = db.get_item(
        TableName=settings.app_table,
        Key=dynamo.to_item(keys.import_chunk_key(job.job_id, job.chunk)),
        ConsistentRead=True,
    ).get("Item")
    if item is None or "done" in item:
        return False
    chunk = dynamo.from_item(item)
    status = dynamo.from_item(
        db.get_item(
            TableName=settings.app_table, Key=dynamo.to_item(keys.import_status_key(job.job_id)), ConsistentRead=True
        )["Item"]
    )
    report = contacts.import_csv(
        chunk["text"],
        settings,
        default_source=status.get("source"),
        row_limit=None,
        key_id=status.get("key_id", ""),
        line_offset=int(chunk["line_offset"]),
    )
    errors = [e.model_dump() for e in report.errors]
    try:
        db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": settings.app_table,
                        "Key": dynamo.to_item(keys.import_chunk_key(job.job_id, job.chunk)),
                        "UpdateExpression": "SET done = :t, errors = :e REMOVE #text",
                        "ConditionExpression": "attribute_not_exists(done)",
                        "ExpressionAttributeNames": {"#text": "text"},
                        "ExpressionAttributeValues": dynamo.to_item({":t": True, ":e": json.dumps(errors)}),
                    }
                },
                {
                    "Update": {
                        "TableName": settings.app_table,
                        "Key": dynamo.to_item(keys.import_status_key(job.job_id)),
                        "UpdateExpression": COUNT_CHUNK,
                        "ExpressionAttributeValues": dynamo.to_item(
                            {
                                ":one": 1,
                                ":c": report.created,
                                ":u": report.updated,
                                ":n": report.unchanged,
                                ":f": len(report.errors),
                            }
                        ),
                    }
                },
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc) is None:
            raise
        return False
    return True


def import_status(job_id: str, settings: Settings) -> ImportJob:
    items = list(
        query_items(
            settings.app_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=dynamo.to_item({":p": keys.import_pk(job_id)}),
            ConsistentRead=True,
        )
    )
    status = next((i for i in items if i["sk"] == "STATUS"), None)
    if status is None:
        raise contacts.ContactNotFound(f"no import {job_id}", "job_id")
    errors: list[Any] = []
    for chunk in sorted((i for i in items if i["sk"].startswith("CHUNK#")), key=lambda i: i["sk"]):
        errors += json.loads(chunk.get("errors", "[]"))
    chunks, done = int(status["chunks"]), int(status["chunks_done"])
    return ImportJob(
        job_id=job_id,
        state="done" if done >= chunks else "running",
        rows=int(status["rows"]),
        chunks=chunks,
        chunks_done=done,
        created=int(status["created"]),
        updated=int(status["updated"]),
        unchanged=int(status["unchanged"]),
        failed_rows=int(status["failed_rows"]),
        errors=[contacts.ImportRowError.model_validate(e) for e in errors[:MAX_REPORTED_ERRORS]],
        progress=round(done / chunks, 4) if chunks else 1.0,
    )
