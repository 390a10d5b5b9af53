"""Peak resident memory of a whole child process (not tracemalloc, which sees neither Pillow's nor torch's
allocations): the kernel's own high-water mark, `ru_maxrss` from `os.wait4` on that child, read when it exits.

While it runs, psutil polls its resident size and kills it above `kill_above_bytes`, so that a regression
(a gigapixel upscale) fails the test instead of taking the shared machine's memory.
"""

import os
import signal
import subprocess
import tempfile
import time

import psutil


def run_with_peak_rss(command, kill_above_bytes=3e9, timeout=300, **popen_kwargs):
    """Run `command`; returns (exit status, stdout, stderr, peak RSS in bytes). A child killed for its memory
    or its time exits with -SIGKILL and its stderr says why."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, **popen_kwargs)
        watched = psutil.Process(process.pid)
        deadline = time.monotonic() + timeout
        killed = None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                rss = watched.memory_info().rss
            except psutil.NoSuchProcess:
                rss = 0
            if killed is None and (rss > kill_above_bytes or time.monotonic() > deadline):
                killed = f"killed: resident memory {rss / 1e9:.2f} GB" if rss > kill_above_bytes else "killed: timeout"
                os.kill(process.pid, signal.SIGKILL)
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen consistent
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "backslashreplace")
        stderr = err.read().decode("utf-8", "backslashreplace") + (f"\n{killed}\n" if killed else "")
    return process.returncode, stdout, stderr, usage.ru_maxrss * 1024  # Linux reports KiB
