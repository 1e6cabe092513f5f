"""The CDNOW customer summary (Fader, Hardie & Lee 2005), taken as data from the lifetimes wheel.

lifetimes is archived, so it is never installed or imported: its wheel is fetched once with
`python -m pip download` into .state/cache/lifetimes/ and the CSV is read out of the zip. Later runs use the
extracted copy and do not touch the network. Any failure raises CdnowUnavailable with a message saying what
to do; the tests turn it into a failure, never a skip, because the acceptance fit is the point of them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".state" / "cache" / "lifetimes"
LIFETIMES_VERSION = "0.11.3"
MEMBER = "lifetimes/datasets/cdnow_customers_summary.csv"
CSV_NAME = "cdnow_customers_summary.csv"
# sha256 of the CSV inside Lifetimes-0.11.3-py3-none-any.whl: a corrupt or different file must not
# silently become the reference the fits are judged against.
CSV_SHA256 = "09d92ca80daaabe8be0f997d4c539f9c9606106baa5b199081fe01cbce5fa9f6"
N_CUSTOMERS = 2357


class CdnowUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class CdnowSummary:
    """Per customer: repeat purchases x, recency t_x and age T, in weeks."""

    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    T: NDArray[np.float64]


def _wheel(cache_dir: Path) -> Path | None:
    # PyPI names the file "Lifetimes-..." (capital L); match either spelling
    found = sorted(p for p in cache_dir.glob("*.whl") if p.name.lower().startswith(f"lifetimes-{LIFETIMES_VERSION}-"))
    return found[0] if found else None


def _download(cache_dir: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"lifetimes=={LIFETIMES_VERSION}",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(cache_dir),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CdnowUnavailable(f"could not run {' '.join(command)}: {exc}") from exc
    wheel = _wheel(cache_dir)
    if done.returncode != 0 or wheel is None:
        raise CdnowUnavailable(
            f"downloading the lifetimes {LIFETIMES_VERSION} wheel (for its CDNOW data set) failed; the CDNOW "
            f"acceptance tests need a package registry reachable by pip once, after which the data is cached in "
            f"{cache_dir}.\ncommand: {' '.join(command)}\nexit code: {done.returncode}\n"
            f"stderr:\n{done.stderr.strip()[-2000:]}"
        )
    return wheel


def _verified(data: bytes, where: Path) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != CSV_SHA256:
        raise CdnowUnavailable(f"{where}: sha256 {digest} is not the expected {CSV_SHA256}; delete it and rerun")
    return data


def cdnow_csv(cache_dir: Path = CACHE_DIR) -> bytes:
    """The CSV's bytes, downloading and extracting on first use."""
    extracted = cache_dir / CSV_NAME
    if extracted.is_file():
        return _verified(extracted.read_bytes(), extracted)
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = _wheel(cache_dir) or _download(cache_dir)
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise CdnowUnavailable(f"{wheel}: cannot read {MEMBER} ({exc}); delete the file and rerun") from exc
    _verified(data, wheel)
    # write-then-rename so a concurrent or interrupted run never leaves a truncated cache file behind
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=CSV_NAME, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, extracted)
    return data


def load_cdnow_summary(cache_dir: Path = CACHE_DIR) -> CdnowSummary:
    rows = list(csv.DictReader(io.StringIO(cdnow_csv(cache_dir).decode("utf-8"))))
    if len(rows) != N_CUSTOMERS:
        raise CdnowUnavailable(f"expected {N_CUSTOMERS} customers in {MEMBER}, found {len(rows)}")
    return CdnowSummary(
        frequency=np.array([float(row["frequency"]) for row in rows]),
        recency=np.array([float(row["recency"]) for row in rows]),
        T=np.array([float(row["T"]) for row in rows]),
    )
