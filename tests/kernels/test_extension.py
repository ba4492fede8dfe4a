"""defian.kernels.extension: building, turning off and falling back (the kernel's numbers: tests/nn/test_hessian.py)."""

from __future__ import annotations

import pytest

from defian.kernels import extension


def test_unknown_kernel_is_named() -> None:
    with pytest.raises(KeyError, match="no C\\+\\+ kernel 'nope'"):
        extension.kernel("nope")


def test_env_turns_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(extension.ENV, "0")
    assert extension.kernel("mshf_cpu") is None


def test_a_failed_build_warns_and_falls_back(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setitem(extension.SOURCES, "broken", broken)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(extension.ENV, "1")
    with pytest.warns(RuntimeWarning, match=f"C\\+\\+ kernel {broken} could not be built.*slower PyTorch path"):
        assert extension.kernel("broken") is None
    extension._build.cache_clear()


def test_a_stale_build_lock_is_removed_and_a_live_build_awaited(tmp_path, monkeypatch) -> None:
    """A lock left by a killed build would make torch wait forever: a live build's lock is awaited
    until it goes, a dead one's is removed once it is stale, also when it was fresh on arrival."""
    import os
    import threading
    import time

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(extension, "LOCK_POLL_SECONDS", 0.05)
    folder = tmp_path / "defian_x_0"
    folder.mkdir()
    lock = folder / "lock"
    lock.touch()
    threading.Timer(0.3, lock.unlink).start()  # a live build finishing
    t0 = time.perf_counter()
    extension._await_lock("defian_x_0")
    assert time.perf_counter() - t0 >= 0.25 and folder.exists()  # waited for it, kept its folder
    old = time.time() - extension.STALE_LOCK_SECONDS - 60
    lock.touch()
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        extension._await_lock("defian_x_0")
    assert not folder.exists()
    folder.mkdir()
    lock.touch()  # fresh on arrival, its build killed: stale while this process waits
    monkeypatch.setattr(extension, "STALE_LOCK_SECONDS", 0.3)
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        extension._await_lock("defian_x_0")
    assert not folder.exists()
