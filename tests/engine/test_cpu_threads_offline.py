"""Issue 12, engine side: the CPU thread count the worker applies, and offline said within seconds."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from engine import default_cpu_threads, set_cpu_threads
from engine.cpu_threads import physical_cores
from engine.models.errors import OfflineError
from engine.models.hub import check_reachable, is_transient, translate, with_retries


def test_default_is_one_fewer_than_the_physical_cores():
    assert default_cpu_threads() == max(1, physical_cores() - 1)


def test_set_cpu_threads_applies_in_the_calling_thread():
    import torch

    seen: list[int] = []

    def work() -> None:
        used = set_cpu_threads(1)
        seen.extend([used, torch.get_num_threads()])
        seen.append(set_cpu_threads(None))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [1, 1, default_cpu_threads()]


def _lookup_failure() -> Exception:
    import httpx2

    try:
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as cause:
        try:
            raise httpx2.ConnectError("[Errno -2] Name or service not known") from cause
        except httpx2.ConnectError as error:
            return error


def test_a_failed_name_lookup_is_offline_and_never_retried(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example")
    error = _lookup_failure()
    assert not is_transient(error)
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(call, sleep=lambda s: pytest.fail("slept before a retry"))
    assert calls == [1]
    translated = translate(error, "org/model")
    assert isinstance(translated, OfflineError) and str(translated).startswith("No internet connection")
    assert "ConnectError" not in str(translated) and "org/model" not in str(translated)


def test_check_reachable_fails_fast(monkeypatch):
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def refuse(host, port):
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(OfflineError, match="hub.example could not be reached"):
        check_reachable("https://hub.example", resolve=refuse)
    started = time.monotonic()
    with pytest.raises(OfflineError):
        check_reachable("https://hub.example", timeout=0.3, resolve=lambda host, port: time.sleep(5))
    assert time.monotonic() - started < 2
    check_reachable("https://hub.example", resolve=lambda host, port: [])  # resolves: no error
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    check_reachable("https://hub.example", resolve=refuse)  # behind a proxy the proxy looks names up


def test_bench_cpu_prints_quiet_and_busy_medians(tmp_path):
    """The benchmark command runs end to end (one answer, one burner) and prints its figures as JSON."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "DIFFUSION_DESK_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "engine.bench_cpu", "--answers", "1", "--burners", "1", "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["threads"] >= 1 and out["burners"] == 1
    assert out["quiet_median_s"] > 0 and out["busy_median_s"] > 0 and out["busy_over_quiet"] > 0
