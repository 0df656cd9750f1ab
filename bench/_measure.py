"""Shared benchmark helper: run a command in a subprocess, time it and sample its memory.

Peak memory is sampled from /proc/<pid>/status every 10 ms: ``VmRSS`` (all resident pages,
including pages of memory-mapped files, which the kernel can drop at will) and ``RssAnon``
(private memory: the real cost of copies).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``RssAnon`` of a live process, in bytes (empty once it has exited)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "RssAnon")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def run_measured(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run ``cmd``; return seconds, peak RSS and peak anonymous RSS (bytes) and the return code.
    Past ``timeout`` seconds the command is killed and ``timed_out`` is True."""
    peak = {"VmRSS": 0, "RssAnon": 0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for k, v in proc_status(proc.pid).items():
                peak[k] = max(peak[k], v)
            time.sleep(0.01)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    return {"seconds": seconds, "peak_rss": peak["VmRSS"], "peak_anon": peak["RssAnon"], "rc": proc.returncode,
            "stdout": out, "stderr": err, "timed_out": timed_out}


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]
