"""Building the compiled loops: the cache key and the lock that survives a killed build."""

import multiprocessing
import shutil
import threading
import time

from rnnkit.engine import compiled


def test_stale_torch_lock_from_a_killed_build_is_removed(tmp_path, monkeypatch):
    (tmp_path / "lock").touch()  # torch's FileBaton left behind by a build that was killed
    seen = {}

    def fake_cpp_load(**kwargs):
        seen["lock_left"] = (tmp_path / "lock").exists()
        seen["build_directory"] = kwargs["build_directory"]
        return "module"

    monkeypatch.setattr("torch.utils.cpp_extension.load", fake_cpp_load)
    monkeypatch.setattr(compiled, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.delenv("RNNKIT_COMPILED", raising=False)
    assert compiled.load() == "module"
    assert seen == {"lock_left": False, "build_directory": str(tmp_path)}


def _hold_lock(build, ready, release):
    with compiled.build_lock(build):
        (build / "lock").touch()  # a live build's own torch lock
        ready.set()
        release.wait(10)


def test_a_live_build_is_waited_for_not_broken(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(10)
    entered = []

    def enter():
        with compiled.build_lock(tmp_path):
            entered.append(1)

    waiter = threading.Thread(target=enter)
    waiter.start()
    time.sleep(0.3)
    assert not entered and (tmp_path / "lock").exists()  # blocked while the other build lives
    release.set()
    holder.join(10)
    waiter.join(10)
    assert entered == [1]


def test_cache_dir_depends_on_every_source_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_EXT_DIR", str(tmp_path))
    here = compiled.cache_dir()
    copy = tmp_path / "csrc"
    shutil.copytree(compiled.CSRC, copy)
    monkeypatch.setattr(compiled, "CSRC", copy)
    assert {p.name for p in compiled.sources()} >= {"lstm.cpp", "gru.cpp", "rnn.cpp", "bindings.cpp"}
    keys = [here, compiled.cache_dir()]  # the same text elsewhere
    for name in ("common.h", "gru.cpp", "bindings.cpp"):  # a header, a cell, the module
        (copy / name).write_text((copy / name).read_text() + "\n// edited\n")
        keys.append(compiled.cache_dir())
    assert len(set(keys)) == len(keys) and here.parent == tmp_path
