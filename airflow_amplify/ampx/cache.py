"""A per-worker cache of installed ``node_modules``, keyed by the lock file, the install command and Node.

A fresh checkout has no ``node_modules``; ``npm ci`` of an Amplify Gen 2 app takes minutes. The
cache keeps one complete ``node_modules`` per key under
``<cache_dir>/node_modules/<key>/node_modules`` (``cache_dir``: ``$AIRFLOW_AMPLIFY_CACHE``, else
``$XDG_CACHE_HOME/airflow-amplify``, else ``~/.cache/airflow-amplify``) and gives each run its own
copy made of hard links (``cp -al``: seconds for a gigabyte, no extra space), or a reflink/real copy
when the workspace is on another file system. Runs never share a directory tree: a symlinked
``node_modules`` would let one run's writes reach the others', and tools that resolve real paths see
another project root.

Concurrency: the install and the publication of a key happen under an exclusive ``fcntl.flock`` on
``<key>.lock``, so a second task with the same lock file waits for the first and then copies its
result; a key appears only complete (built under a temporary name, then renamed). Size: after each
run, entries beyond ``max_entries`` or ``max_bytes`` are evicted, least recently used (mtime) first;
an entry another task holds the lock of is skipped. The small ``<key>.lock`` files stay (removing a
lock file another process has open would let two processes hold "the" lock).

Measured with the real ampx 1.10.0 and the sample app (1.2 GB node_modules, 2-core machine): a
hard-linked copy takes about 2.5 s and ``ampx pipeline-deploy`` runs in it exactly as in the original
(reaches the CDK bootstrap check), with no write into the cached tree, also with the cached files
read-only; a symlinked ``node_modules`` fails in synthesis (``BackendBuildError``: CDK Assembly
Error).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_ENTRIES = 5
DEFAULT_MAX_BYTES = 10 * 1024**3
CACHE_ENV = "AIRFLOW_AMPLIFY_CACHE"
_META = "meta.json"


def default_cache_dir() -> Path:
    """``$AIRFLOW_AMPLIFY_CACHE``, else ``$XDG_CACHE_HOME/airflow-amplify``, else ``~/.cache/airflow-amplify``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "airflow-amplify")


def cache_key(lockfile_bytes: bytes, command: str, node_version: str) -> str:
    """The key of an install: SHA-256 over the lock file, the install command, Node's version and the platform."""
    digest = hashlib.sha256()
    for part in (lockfile_bytes, command.encode(), node_version.encode(), platform.machine().encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:32]


def tree_size(path: Path) -> int:
    """Bytes used by the files of a tree (each inode once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def copy_tree(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` (which must not exist) as hard links, else reflinks, else bytes.

    :return: ``hardlink`` or ``copy``.
    """
    if shutil.which("cp"):
        linked = subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True, check=False)
        if linked.returncode == 0:
            return "hardlink"
        shutil.rmtree(target, ignore_errors=True)
        copied = subprocess.run(
            ["cp", "-a", "--reflink=auto", str(source), str(target)], capture_output=True, check=False
        )
        if copied.returncode == 0:
            return "copy"
        shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)
    return "copy"


@dataclass
class CacheResult:
    """What :meth:`NodeModulesCache.provide` did.

    :param key: the cache key.
    :param hit: True when ``node_modules`` came from the cache, False when the install ran.
    :param method: how it was copied (``hardlink`` or ``copy``); ``None`` on a miss.
    :param seconds: wall-clock time spent (waiting for the lock included).
    :param waited_seconds: time spent waiting for another task's lock.
    """

    key: str
    hit: bool
    method: str | None
    seconds: float
    waited_seconds: float


class NodeModulesCache:
    """A bounded, lock-protected cache of complete ``node_modules`` trees.

    :param cache_dir: the cache's root (entries under ``<cache_dir>/node_modules/``).
    :param max_entries: keep at most this many keys (least recently used evicted first).
    :param max_bytes: keep at most this many bytes in total (least recently used evicted first).
    :param log: a logger.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        log=None,
    ):
        self.root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.entries_dir = self.root / "node_modules"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.log = log or logging.getLogger(__name__)

    def entry(self, key: str) -> Path:
        """The directory of a key (holds ``node_modules`` and ``meta.json`` when complete)."""
        return self.entries_dir / key

    @contextlib.contextmanager
    def _locked(self, key: str, blocking: bool = True) -> Iterator[bool]:
        self.entries_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.entries_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def provide(
        self, key: str, project_dir: str | os.PathLike[str], install: Callable[[], object]
    ) -> CacheResult:
        """Give ``project_dir`` a ``node_modules`` for ``key``: a copy of the cached one, or ``install()``'s.

        On a miss ``install()`` runs in ``project_dir`` (under the key's lock) and its ``node_modules`` is
        published into the cache. A failed install publishes nothing.
        """
        start = time.monotonic()
        target = Path(project_dir, "node_modules")
        with self._locked(key):
            waited = time.monotonic() - start
            if waited > 1:
                self.log.info(
                    "Waited %.0f s for another task filling dependency cache entry %s", waited, key[:12]
                )
            cached = self.entry(key) / "node_modules"
            if cached.is_dir() and (self.entry(key) / _META).is_file():
                if target.exists() or target.is_symlink():
                    _remove(target)
                method = copy_tree(cached, target)
                os.utime(self.entry(key))  # LRU: most recently used
                result = CacheResult(key, True, method, time.monotonic() - start, waited)
                self.log.info(
                    "Dependency cache hit %s: node_modules copied (%s) in %.1f s",
                    key[:12],
                    method,
                    result.seconds,
                )
            else:
                install()
                self._publish(key, target)
                result = CacheResult(key, False, None, time.monotonic() - start, waited)
        self.evict(keep=key)
        return result

    def _publish(self, key: str, node_modules: Path) -> None:
        if not node_modules.is_dir():
            self.log.warning("The install left no %s: nothing to cache", node_modules)
            return
        staging = self.entries_dir / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            method = copy_tree(node_modules, staging / "node_modules")
            _make_files_read_only(staging / "node_modules")
            size = tree_size(staging / "node_modules") if method == "copy" else tree_size(node_modules)
            (staging / _META).write_text(json.dumps({"key": key, "bytes": size, "created": time.time()}))
            final = self.entry(key)
            if final.exists():  # an incomplete leftover (no meta.json) of a crashed run
                _remove(final)
            os.rename(staging, final)
            self.log.info("Dependency cache: stored %s (%.0f MB, %s)", key[:12], size / 1e6, method)
        except BaseException:
            _remove(staging)
            raise

    def entries(self) -> list[tuple[str, float, int]]:
        """Complete entries as (key, last use, bytes), most recently used first."""
        found = []
        if not self.entries_dir.is_dir():
            return found
        for path in self.entries_dir.iterdir():
            meta = path / _META
            if path.name.startswith(".") or not meta.is_file():
                continue
            try:
                size = int(json.loads(meta.read_text()).get("bytes", 0))
                found.append((path.name, path.stat().st_mtime, size))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda e: e[1], reverse=True)

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove least recently used entries beyond ``max_entries`` / ``max_bytes``; return their keys."""
        evicted = []
        total = 0
        for index, (key, _mtime, size) in enumerate(self.entries()):
            total += size
            over = index >= self.max_entries or (self.max_bytes is not None and total > self.max_bytes)
            if not over or key == keep:
                continue
            with self._locked(key, blocking=False) as got:
                if not got:
                    continue  # in use by another task: next time
                trash = self.entries_dir / f".trash-{key}-{uuid.uuid4().hex[:8]}"
                with contextlib.suppress(OSError):
                    os.rename(self.entry(key), trash)
                    _remove(trash)
                    evicted.append(key)
                    total -= size
        if evicted:
            self.log.info("Dependency cache: evicted %s", ", ".join(k[:12] for k in evicted))
        # leftovers of runs that died while building or evicting
        for path in self.entries_dir.glob(".t*-*"):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > 24 * 3600:
                    _remove(path)
        return evicted


def _make_files_read_only(path: Path) -> None:
    """Drop write permission from the files of a published tree (directories stay writable).

    Runs get hard links to the same inodes: a tool that rewrote a file in place would change it for
    every later run. Read-only files make such a write fail loudly (for non-root users) instead;
    replacing or deleting files (what npm does) needs only the directory's permission.
    """
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = os.path.join(root, name)
            with contextlib.suppress(OSError):
                st = os.lstat(file)
                if not os.path.islink(file) and st.st_mode & 0o222:
                    os.chmod(file, st.st_mode & ~0o222)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
