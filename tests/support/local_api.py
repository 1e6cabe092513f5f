"""Calling the local cloud's API as its admin, for the e2e tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from infra.localcloud.main import LocalCloud


def admin_request(
    cloud: LocalCloud, method: str, path: str, expect: int | None = 200, **kwargs: Any
) -> requests.Response:
    """The response to an admin key's request, its status checked unless `expect` is None."""
    response = requests.request(
        method, f"{cloud.url}{path}", headers={"Authorization": f"Bearer {cloud.admin_key}"}, timeout=120, **kwargs
    )
    if expect is not None:
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response


def admin_call(cloud: LocalCloud, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    """The JSON body of an admin key's request (the response itself for any other content), status checked."""
    response = admin_request(cloud, method, path, expect, **kwargs)
    return response.json() if response.headers.get("Content-Type", "").startswith("application/json") else response


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """The first truthy value of `predicate`, polled every half second, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
