"""How many AWS requests each function made, by operation: benches and cost tests read it.

Apart from shared.store.dynamo so that code which talks to DynamoDB without botocore (shared.store.lite)
counts its requests in the same place without importing botocore.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator


class RequestCounter:
    """Counts AWS requests by operation name, across every client this module hands out, and by who
    made them: the running function (its AWS_LAMBDA_FUNCTION_NAME), unless a `scope` names someone else.
    Attribution by function holds while functions run side by side in one process (the local cloud)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scope = threading.local()
        self.counts: Counter[str] = Counter()
        self.by_caller: dict[str, Counter[str]] = {}

    def record(self, operation: str) -> None:
        caller = getattr(self._scope, "name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        with self._lock:
            self.counts[operation] += 1
            self.by_caller.setdefault(caller, Counter())[operation] += 1

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Attribute this thread's requests to `name` for the duration of the block."""
        saved = getattr(self._scope, "name", None)
        self._scope.name = name
        try:
            yield
        finally:
            self._scope.name = saved

    def total(self, prefix: str = "") -> int:
        with self._lock:
            return sum(v for k, v in self.counts.items() if k.startswith(prefix))

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.by_caller.clear()


REQUESTS = RequestCounter()
