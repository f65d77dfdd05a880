"""NodeModulesCache and AmpxHook.install_dependencies with a cache: hits, misses, locking, eviction."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_amplify.ampx.cache import NodeModulesCache, cache_key, default_cache_dir
from airflow_amplify.ampx.errors import AmpxCommandError
from airflow_amplify.hooks.ampx import AmpxHook

#: An "install" that writes node_modules/pkg/index.js and counts its runs in $INSTALL_COUNT.
INSTALL = [
    sys.executable,
    "-c",
    "import os, time; time.sleep(float(os.environ.get('INSTALL_SLEEP', '0'))); "
    "os.makedirs('node_modules/pkg', exist_ok=True); "
    "open('node_modules/pkg/index.js', 'w').write('module.exports = 42;'); "
    "open(os.environ['INSTALL_COUNT'], 'a').write('x')",
]


def make_project(path: Path, lock: str = "v1") -> Path:
    path.mkdir(parents=True)
    (path / "package.json").write_text('{"name": "tiny", "private": true}\n')
    (path / "package-lock.json").write_text(json.dumps({"name": "tiny", "lockfileVersion": 3, "v": lock}))
    return path


@pytest.fixture
def counter(tmp_path, monkeypatch):
    path = tmp_path / "install-count"
    path.write_text("")
    monkeypatch.setenv("INSTALL_COUNT", str(path))
    return lambda: len(path.read_text())


@pytest.fixture
def cache(tmp_path):
    return NodeModulesCache(tmp_path / "cache", max_entries=3)


def install(project, cache, command=INSTALL):
    # the install sees only the allowlisted environment: the test's counters go in explicitly
    passed = {k: os.environ[k] for k in ("INSTALL_COUNT", "INSTALL_SLEEP") if k in os.environ}
    hook = AmpxHook(aws_conn_id=None, env=passed)
    hook.install_dependencies(project, command=command, cache=cache)
    return hook.last_install


def test_second_project_with_the_same_lockfile_is_served_from_the_cache(tmp_path, cache, counter):
    first = install(make_project(tmp_path / "run1"), cache)
    assert first["installed"] is True and first["source"] == "install" and counter() == 1
    second_project = make_project(tmp_path / "run2")
    second = install(second_project, cache)
    assert second["installed"] is False and second["source"] == "cache" and counter() == 1
    assert second["cache_key"] == first["cache_key"]
    copied = second_project / "node_modules" / "pkg" / "index.js"
    cached = cache.entry(first["cache_key"]) / "node_modules" / "pkg" / "index.js"
    assert copied.read_text() == "module.exports = 42;"
    assert os.stat(copied).st_ino == os.stat(cached).st_ino  # a hard link, not a second copy
    assert not (second_project / "node_modules").is_symlink()
    assert not os.access(cached, os.W_OK) or os.geteuid() == 0  # cached files are read-only
    assert os.stat(cached).st_mode & 0o222 == 0
    # removing the run's copy leaves the cache intact
    shutil.rmtree(second_project)
    assert cached.read_text() == "module.exports = 42;"


def test_changed_lockfile_or_command_installs_again(tmp_path, cache, counter):
    install(make_project(tmp_path / "a", lock="v1"), cache)
    install(make_project(tmp_path / "b", lock="v2"), cache)
    assert counter() == 2
    install(make_project(tmp_path / "c", lock="v2"), cache, command=[*INSTALL, "--other"])
    assert counter() == 3
    assert len(cache.entries()) == 3


def test_key_covers_lockfile_command_and_node_version():
    base = cache_key(b"lock", "npm ci", "v20.1.0")
    assert base != cache_key(b"lock2", "npm ci", "v20.1.0")
    assert base != cache_key(b"lock", "npm install", "v20.1.0")
    assert base != cache_key(b"lock", "npm ci", "v22.1.0")
    assert base == cache_key(b"lock", "npm ci", "v20.1.0")


def test_failed_install_publishes_nothing(tmp_path, cache, counter):
    failing = [sys.executable, "-c", "import os; os.makedirs('node_modules/half'); raise SystemExit(3)"]
    with pytest.raises(AmpxCommandError):
        install(make_project(tmp_path / "a"), cache, command=failing)
    assert cache.entries() == []
    assert install(make_project(tmp_path / "b"), cache, command=failing[:2] + ["print(1)"])["installed"]


def test_two_tasks_at_once_install_once(tmp_path, cache, counter, monkeypatch):
    monkeypatch.setenv("INSTALL_SLEEP", "1")
    results = {}

    def run(name):
        results[name] = install(make_project(tmp_path / name), cache)

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert counter() == 1
    assert sorted(r["source"] for r in results.values()) == ["cache", "cache", "install"]
    for i in range(3):
        assert (tmp_path / f"t{i}" / "node_modules" / "pkg" / "index.js").is_file()


def test_least_recently_used_entries_are_evicted_beyond_max_entries(tmp_path, cache, counter):
    keys = []
    for i in range(3):
        keys.append(install(make_project(tmp_path / f"p{i}", lock=f"v{i}"), cache)["cache_key"])
        time.sleep(0.02)
    os.utime(cache.entry(keys[0]), (time.time() + 5, time.time() + 5))  # v0 used most recently
    install(make_project(tmp_path / "p3", lock="v3"), cache)
    remaining = {key for key, _, _ in cache.entries()}
    assert keys[1] not in remaining and keys[0] in remaining and keys[2] in remaining
    assert len(remaining) == 3


def test_eviction_by_size_skips_an_entry_in_use(tmp_path, counter):
    cache = NodeModulesCache(tmp_path / "cache", max_entries=10, max_bytes=1)
    first = install(make_project(tmp_path / "a", lock="v1"), cache)["cache_key"]
    with cache._locked(first):  # another task is copying from it
        second = install(make_project(tmp_path / "b", lock="v2"), cache)["cache_key"]
        assert {k for k, _, _ in cache.entries()} == {first, second}
    # released: both are over the 1-byte budget now
    assert sorted(cache.evict()) == sorted([first, second]) and cache.entries() == []


def test_cache_directory_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_AMPLIFY_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("AIRFLOW_AMPLIFY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "airflow-amplify"


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_real_npm_ci_runs_once_then_the_cache_serves_it(tmp_path, capsys):
    """The measured figure: npm ci of a project with one local dependency, then a cache hit."""
    dep = tmp_path / "dep"
    dep.mkdir()
    (dep / "package.json").write_text('{"name": "tiny-dep", "version": "1.0.0", "main": "index.js"}\n')
    (dep / "index.js").write_text("module.exports = 'tiny';\n")
    template = tmp_path / "template"
    template.mkdir()
    (template / "package.json").write_text(
        json.dumps(
            {"name": "app", "version": "0.0.0", "private": True, "dependencies": {"tiny-dep": "file:../dep"}}
        )
    )
    env = {
        **os.environ,
        "npm_config_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
    }
    import subprocess

    subprocess.run(
        ["npm", "install", "--install-links"], cwd=template, env=env, check=True, capture_output=True
    )
    cache = NodeModulesCache(tmp_path / "cache")
    runs = []
    for name in ("run1", "run2"):
        project = tmp_path / name
        project.mkdir()
        for file in ("package.json", "package-lock.json"):
            shutil.copy(template / file, project / file)
        # run next to dep so that file:../dep resolves the same way
        hook = AmpxHook(aws_conn_id=None, env={"npm_config_offline": "true", "npm_config_audit": "false"})
        start = time.monotonic()
        hook.install_dependencies(project, command=["npm", "ci", "--install-links"], cache=cache)
        runs.append((hook.last_install["source"], time.monotonic() - start))
        result = subprocess.run(
            ["node", "-e", "console.log(require('tiny-dep'))"], cwd=project, capture_output=True, text=True
        )
        assert result.stdout.strip() == "tiny"
    assert [source for source, _ in runs] == ["install", "cache"]
    assert runs[1][1] < runs[0][1]
    with capsys.disabled():
        print(f"\n[dependency cache] npm ci: {runs[0][1]:.2f} s; cache hit: {runs[1][1]:.2f} s")
