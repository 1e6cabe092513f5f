"""Each function's printed output goes to a log file of its own, whichever thread prints it."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import TextIO


class _CurrentFunction(threading.local):
    name: str | None = None


CURRENT_FUNCTION = _CurrentFunction()


class RoutingStream(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: writes go to the running function's log file.

    Powertools' Logger binds sys.stdout when a handler module is imported, so swapping sys.stdout
    per call would not reach it; routing each write by the calling thread's current function does.
    """

    def __init__(self, log_dir: Path, default_name: str = "localcloud") -> None:
        super().__init__()
        self.log_dir = log_dir
        self.default_name = default_name
        self._files: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        log_dir.mkdir(parents=True, exist_ok=True)

    def _file(self, name: str) -> TextIO:
        handle = self._files.get(name)
        if handle is None:
            handle = open(self.log_dir / f"{name}.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self._files[name] = handle
        return handle

    def write(self, text: str) -> int:
        name = CURRENT_FUNCTION.name or self.default_name
        with self._lock:
            self._file(name).write(text)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def close_files(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
