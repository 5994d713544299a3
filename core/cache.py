"""The content-addressed cache of pass outputs and evaluation results.

Layout under the cache folder::

    passes/<key>/        a committed pass output: result.json, model/, log
    evaluations/<key>.json
    resources/<key>/     downloaded remote inputs
    tmp/<key>.<pid>.<n>/ work in progress (never read)
    locks/<key>.lock     one writer per key, across processes
    digests.json         file digests memoised by (path, size, mtime)

An entry is written under tmp/ and renamed into place, so a run killed at any
moment leaves no half entry; the next run takes the lock, removes the stale
work folder and starts that pass again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from contextlib import contextmanager
from importlib import metadata
from itertools import count
from pathlib import Path
from typing import Any, Iterable, Iterator

from filelock import FileLock

_counter = count()
_memo_lock = threading.Lock()


def stable_hash(value: Any) -> str:
    """SHA-256 (hex, 32 chars) of a JSON-serialisable value, key order ignored."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def library_version(dist: str) -> str:
    """Installed version of a distribution, or "absent"."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


class Cache:
    """A cache folder; safe to share between concurrent runs."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        for sub in ("passes", "evaluations", "resources", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._digests: dict[str, str] | None = None
        self._digests_dirty = False

    # -- content digests ------------------------------------------------------

    def _memo(self) -> dict[str, str]:
        if self._digests is None:
            try:
                self._digests = json.loads((self.root / "digests.json").read_text())
            except (OSError, ValueError):
                self._digests = {}
        return self._digests

    def file_digest(self, path: str | Path) -> str:
        """SHA-256 of a file's content, memoised by path, size and mtime."""
        path = Path(path).resolve()
        st = path.stat()
        memo_key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
        with _memo_lock:
            found = self._memo().get(memo_key)
        if found:
            return found
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        with _memo_lock:
            self._memo()[memo_key] = digest
            self._digests_dirty = True
        return digest

    def path_digest(self, path: str | Path) -> str:
        """Digest of a file, or of a folder's relative names and file contents."""
        path = Path(path)
        if path.is_file():
            return self.file_digest(path)
        parts = []
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            if "__pycache__" in f.parts or f.name.startswith(".cache"):
                continue
            parts.append((f.relative_to(path).as_posix(), self.file_digest(f)))
        return stable_hash(parts)

    def paths_digest(self, paths: Iterable[str | Path]) -> list[str]:
        return [self.path_digest(p) for p in paths]

    def save_digests(self) -> None:
        """Persist new memoised digests (merged with other runs' entries)."""
        if not self._digests_dirty:
            return
        target = self.root / "digests.json"
        with FileLock(str(self.root / "locks" / "digests.lock")):
            try:
                on_disk = json.loads(target.read_text())
            except (OSError, ValueError):
                on_disk = {}
            on_disk.update(self._memo())
            self._write_json_atomic(target, on_disk)
        self._digests_dirty = False

    # -- locking and atomic writes ---------------------------------------------

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the cross-process lock of ``key``."""
        with FileLock(str(self.root / "locks" / f"{key}.lock")):
            yield

    def _write_json_atomic(self, target: Path, data: Any) -> None:
        tmp = self.root / "tmp" / f"{target.name}.{os.getpid()}.{next(_counter)}"
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, target)

    # -- pass entries ---------------------------------------------------------

    def entry_dir(self, key: str) -> Path:
        return self.root / "passes" / key

    def get_pass(self, key: str) -> dict | None:
        """The committed result of ``key`` (its ``output_dir`` is the entry), or None."""
        entry = self.entry_dir(key)
        try:
            result = json.loads((entry / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        result["entry_dir"] = str(entry)
        return result

    def begin_pass(self, key: str) -> Path:
        """A fresh work folder for ``key`` (call with the key's lock held)."""
        for stale in (self.root / "tmp").glob(f"{key}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = self.root / "tmp" / f"{key}.{os.getpid()}.{next(_counter)}"
        work.mkdir(parents=True)
        return work

    def commit_pass(self, key: str, work: Path) -> Path:
        """Rename a finished work folder into place; returns the entry folder."""
        entry = self.entry_dir(key)
        if entry.exists():  # committed by another run meanwhile: keep theirs
            shutil.rmtree(work, ignore_errors=True)
        else:
            os.replace(work, entry)
        return entry

    # -- evaluations ----------------------------------------------------------

    def get_evaluation(self, key: str) -> dict | None:
        try:
            return json.loads((self.root / "evaluations" / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_evaluation(self, key: str, data: dict) -> None:
        self._write_json_atomic(self.root / "evaluations" / f"{key}.json", data)

    # -- resources ------------------------------------------------------------

    def resource_dir(self, key: str) -> Path:
        return self.root / "resources" / key
