"""One environment per running function, side by side in one process.

Lambda gives each function its own process and so its own environment. The local cloud runs every
function in one process, and `os.environ` is process-wide: swapping it per call forces invocations
to take turns, so an API call would wait for a stream batch. Instead, `os.environ` becomes a mapping
that reads the calling thread's environment when one is set (while it runs a function) and the
process's own otherwise. A thread started by a function (a ThreadPoolExecutor's worker, say) inherits
the environment of the thread that started it, as it would inside that function's process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

_INSTALLED: ThreadEnviron | None = None
GIL_SWITCH_INTERVAL_S = 0.0005
_LOCK = threading.Lock()


class _Current(threading.local):
    environment: dict[str, str] | None = None


class ThreadEnviron(MutableMapping[str, str]):
    """`os.environ` with a per-thread view: the thread's function environment, else the process's."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process
        self._current = _Current()

    def _view(self) -> MutableMapping[str, str]:
        environment = self._current.environment
        return self.process if environment is None else environment

    @property
    def current(self) -> dict[str, str] | None:
        return self._current.environment

    @current.setter
    def current(self, environment: dict[str, str] | None) -> None:
        self._current.environment = environment

    def __getitem__(self, key: str) -> str:
        return self._view()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._view()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __len__(self) -> int:
        return len(self._view())

    def copy(self) -> dict[str, str]:
        return dict(self._view())

    def __repr__(self) -> str:
        return f"ThreadEnviron({'function' if self._current.environment is not None else 'process'})"


def install() -> ThreadEnviron:
    """Put the per-thread environment in place of `os.environ` (once per process)."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED is None:
            # Functions side by side are I/O-bound threads beside CPU-bound ones: each answer from moto
            # waits for the GIL up to the switch interval, so a short one keeps their calls flowing.
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
            _INSTALLED = ThreadEnviron(os.environ)
            os.environ = _INSTALLED  # type: ignore[assignment]  # noqa: B003 - a view over the process environment, which stays as it is
            _inherit_in_new_threads(_INSTALLED)
        return _INSTALLED


def _inherit_in_new_threads(environ: ThreadEnviron) -> None:
    original_init = threading.Thread.__init__
    original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._kith_environment = environ.current  # type: ignore[attr-defined]

    def bootstrap_inner(self: threading.Thread) -> None:
        environ.current = getattr(self, "_kith_environment", None)
        original_bootstrap(self)

    threading.Thread.__init__ = init  # type: ignore[method-assign]
    threading.Thread._bootstrap_inner = bootstrap_inner  # type: ignore[attr-defined]


@contextlib.contextmanager
def running_with(environment: Mapping[str, str]) -> Iterator[None]:
    """Give the calling thread `environment` for the duration of the block (nested blocks restore)."""
    environ = install()
    saved = environ.current
    environ.current = dict(environment)
    try:
        yield
    finally:
        environ.current = saved
