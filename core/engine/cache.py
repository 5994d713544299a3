"""The content-addressed cache of pass outputs and evaluation results.

Layout under the cache folder::

    passes/<key>/        a committed pass output: result.json, manifest.json, model/, log
    evaluations/<key>.json
    resources/<key>/     downloaded remote inputs
    tmp/<key>.<pid>.<n>/ work in progress (never read)
    locks/<key>.lock     one writer per key, across processes
    digests.json         file digests memoised by (path, size, mtime)

An entry is written under tmp/ and renamed into place, so a run killed at any
moment leaves no half entry; the next run takes the lock, removes the stale
work folder and starts that pass again.

Every committed entry carries ``manifest.json``: the size and SHA-256 of each
of its files. An entry is checked each time it is used (size first, then the
digest, memoised by path, size, mtime and inode, so an unchanged entry costs
one ``stat`` per file); an entry that fails the check, or lacks its result or
manifest, is rebuilt with a one-line warning and replaced atomically.

A cache folder the user cannot write is used read-only: hits are served
(without locks), a miss is a clear error.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from itertools import count
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..errors import UserError
from ..redact import redact

log = logging.getLogger("modelpress")
MANIFEST = "manifest.json"
RESULT = "result.json"
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
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"cache_dir: {self.root} is a file; give a folder (or remove the file)")
        try:
            for sub in ("passes", "evaluations", "resources", "tmp", "locks"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # judged just below
        self.read_only = not (self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)
                              and os.access(self.root / "locks", os.W_OK | os.X_OK))
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
        if not self._digests_dirty or self.read_only:
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
        """Hold the cross-process lock of ``key`` (none in a read-only cache: nobody writes)."""
        if self.read_only:
            yield
            return
        with FileLock(str(self.root / "locks" / f"{key}.lock")):
            yield

    def _write_json_atomic(self, target: Path, data: Any) -> None:
        tmp = self.root / "tmp" / f"{target.name}.{os.getpid()}.{next(_counter)}"
        tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, target)

    # -- pass entries ---------------------------------------------------------

    def entry_dir(self, key: str) -> Path:
        """Where the committed entry of ``key`` lives."""
        return self.root / "passes" / key

    def get_pass(self, key: str) -> dict | None:
        """The committed, verified result of ``key`` (``entry_dir`` added), or None.

        An entry that exists but fails its manifest check is reported in one
        warning line and treated as absent, so the caller rebuilds it.
        """
        entry = self.entry_dir(key)
        if not entry.exists():
            return None
        problem = self.verify(entry)
        if problem:
            log.warning("cache entry %s: %s; rebuilding it", entry, problem)
            return None
        result = json.loads((entry / RESULT).read_text(encoding="utf-8"))
        result["entry_dir"] = str(entry)
        return result

    def verify(self, entry: Path) -> str | None:
        """Why ``entry`` cannot be trusted, or None when every file matches its manifest."""
        try:
            manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
            json.loads((entry / RESULT).read_text(encoding="utf-8"))["model"]
        except (OSError, ValueError, KeyError, TypeError):
            return f"{MANIFEST} or {RESULT} is missing or unreadable"
        for rel, (size, digest) in manifest["files"].items():
            path = entry / rel
            try:
                if path.stat().st_size != size:
                    return f"{rel} has changed size since it was written"
            except OSError:
                return f"{rel} is missing"
            if self.file_digest(path) != digest:
                return f"{rel} has changed content since it was written"
        return None

    def begin_pass(self, key: str) -> Path:
        """A fresh work folder for ``key`` (call with the key's lock held)."""
        if self.read_only:
            if key.startswith("eval-"):  # an evaluation needs scratch space only
                return Path(tempfile.mkdtemp(prefix=f"modelpress-{key[:20]}-"))
            raise UserError(f"cache_dir: {self.root} is read-only and this pass is not cached; "
                            "give a writable --cache-dir")
        for stale in (self.root / "tmp").glob(f"{key}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = self.root / "tmp" / f"{key}.{os.getpid()}.{next(_counter)}"
        work.mkdir(parents=True)
        return work

    def commit_pass(self, key: str, work: Path, extra: dict | None = None) -> Path:
        """Seal a finished work folder and rename it into place; returns the entry folder.

        ``result.json`` is rewritten redacted (plus ``extra``), a manifest of
        every file's size and digest is added, and an existing entry is kept
        only if it verifies (another run committed it meanwhile); a bad one
        is replaced.
        """
        entry = self.entry_dir(key)
        if entry.exists() and self.verify(entry) is None:
            shutil.rmtree(work, ignore_errors=True)
            return entry
        result = json.loads((work / RESULT).read_text(encoding="utf-8"))
        (work / RESULT).write_text(json.dumps(redact({**result, **(extra or {})}), indent=2),
                                   encoding="utf-8")
        files = {}
        for f in sorted(p for p in work.rglob("*") if p.is_file()):
            files[f.relative_to(work).as_posix()] = (f.stat().st_size, self.file_digest(f))
        (work / MANIFEST).write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")
        if entry.exists():  # a bad entry: move it aside first so the swap is one rename
            trash = self.root / "tmp" / f"{key}.bad.{os.getpid()}.{next(_counter)}"
            os.replace(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(work, entry)
        # A rename keeps size, mtime and inode: remember the digests at their new paths.
        for rel, (_, digest) in files.items():
            self._remember(entry / rel, digest)
        return entry

    def _remember(self, path: Path, digest: str) -> None:
        st = path.stat()
        with _memo_lock:
            self._memo()[f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"] = digest
            self._digests_dirty = True

    # -- evaluations ----------------------------------------------------------

    def get_evaluation(self, key: str) -> dict | None:
        try:
            return json.loads((self.root / "evaluations" / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_evaluation(self, key: str, data: dict) -> None:
        if self.read_only:
            return
        self._write_json_atomic(self.root / "evaluations" / f"{key}.json", data)

    # -- resources ------------------------------------------------------------

    def resource_dir(self, key: str) -> Path:
        return self.root / "resources" / key
