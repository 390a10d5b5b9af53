"""Peak resident memory of a whole child process (not tracemalloc, which sees neither Pillow's nor torch's
allocations): the kernel's own high-water mark, `ru_maxrss` from `os.wait4` on that child, read when it exits.

`ru_maxrss` of a child started straight from this process would be wrong: on Linux the exec'd child keeps the
high-water mark of the memory it had before exec, which is its parent's (subprocess starts it with vfork: the whole
pytest process's peak, freed or not; measured, `python -c pass` reported 641 MB after pytest touched and freed
600 MB). So the command is started from a small launcher (`python -I -S -c LAUNCHER`, os and sys only) that forks
and execs it and reports the command's own `os.wait4` status and `ru_maxrss` through a file: the command starts
from the launcher's size, about 7 MB, which is the floor of what this reports (`true` reports 7 MB, `python -c
pass` 11 MB). The figure includes the peak of the command's own children that it waited for (the kernel's maximum
over them, not their sum). When the command exits, what it left running in its process group is killed.

While it runs, psutil polls the resident size of the command's whole process tree (summed) and kills the tree
above `kill_above_bytes` or after `timeout` seconds, so that a regression (a gigapixel upscale) fails the test
instead of taking the shared machine's memory.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil

# argv: REPORT COMMAND...; writes "EXIT_STATUS MAXRSS_KIB EXEC_ERRNO" to REPORT once COMMAND has exited.
LAUNCHER = r"""
import os, sys
report, argv = sys.argv[1], sys.argv[2:]
read_end, write_end = os.pipe()  # close-on-exec: stays empty unless exec fails
pid = os.fork()
if pid == 0:
    try:
        os.setpgid(0, 0)  # its own process group, which the watchdog kills whole
        os.close(read_end)
        os.execvp(argv[0], argv)
    except OSError as error:
        os.write(write_end, str(error.errno).encode())
    os._exit(127)
try:
    os.setpgid(pid, pid)
except OSError:
    pass  # the child has already done it and exec'd
os.close(write_end)
exec_errno = os.read(read_end, 64).decode() or "0"
_, status, usage = os.wait4(pid, 0)
try:
    os.killpg(pid, 9)  # what the command left running in its group would outlive the test
except OSError:
    pass
with open(report, "w") as file:
    file.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {exec_errno}")
"""


def _kill_tree(launcher):
    """SIGKILL everything below the launcher (its child's process group and every descendant), not the launcher,
    which then reports the child's status and peak."""
    try:
        descendants = launcher.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for process in descendants:
        for kill in (lambda: os.killpg(process.pid, signal.SIGKILL), lambda: process.send_signal(signal.SIGKILL)):
            try:
                kill()
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                pass


def _tree_rss(launcher):
    total = 0
    try:
        descendants = launcher.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for process in descendants:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_with_peak_rss(command, kill_above_bytes=3e9, timeout=300, **popen_kwargs):
    """Run `command` (a list; env, cwd and other Popen arguments apply to it); returns (exit status, stdout,
    stderr, peak RSS in bytes). A child killed for its memory or its time exits with -SIGKILL and its stderr
    says why. A command that cannot be started raises the OSError Popen would (FileNotFoundError...)."""
    command = [os.fspath(part) for part in command]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory(prefix="peak-rss-") as folder:
        report = os.path.join(folder, "report")
        process = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, report, *command], stdout=out,
                                   stderr=err, start_new_session=True, **popen_kwargs)
        launcher = psutil.Process(process.pid)
        deadline = time.monotonic() + timeout
        killed = killed_at = None
        try:
            while process.poll() is None:
                rss = _tree_rss(launcher)
                if killed is None and (rss > kill_above_bytes or time.monotonic() > deadline):
                    killed = (f"killed: resident memory {rss / 1e9:.2f} GB" if rss > kill_above_bytes
                              else "killed: timeout")
                    killed_at = time.monotonic()
                    _kill_tree(launcher)
                elif killed is not None and time.monotonic() > killed_at + 10:
                    os.killpg(process.pid, signal.SIGKILL)  # the launcher itself hangs
                time.sleep(0.02)
        except BaseException:  # KeyboardInterrupt...: leave nothing running
            _kill_tree(launcher)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        fields = open(report).read().split() if os.path.exists(report) else []
        if len(fields) != 3:
            err.seek(0)
            raise RuntimeError(f"the peak-RSS launcher exited with {process.returncode} without a report: "
                               + err.read().decode("utf-8", "backslashreplace"))
        status, maxrss_kib, exec_errno = map(int, fields)
        if exec_errno:
            raise OSError(exec_errno, os.strerror(exec_errno), command[0])
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "backslashreplace")
        stderr = err.read().decode("utf-8", "backslashreplace") + (f"\n{killed}\n" if killed else "")
    return status, stdout, stderr, maxrss_kib * 1024  # Linux reports KiB
