"""tests/peak_rss.py must report the child's own peak, not the high-water mark of the process that started it.

On Linux a child started by subprocess (vfork + exec) keeps, in its `ru_maxrss`, the parent's high-water mark at
exec: a pytest process that once held 600 MB would report at least 600 MB for `python -c pass`.
"""

import signal
import sys

from tests.peak_rss import run_with_peak_rss

MB = 1e6


def touch(nbytes):
    """A bytearray of `nbytes` with every page written (resident, not just reserved)."""
    block = bytearray(nbytes)
    for offset in range(0, nbytes, 4096):
        block[offset] = 1
    return block


def test_a_small_child_of_a_big_parent_reports_its_own_small_peak():
    block = touch(int(600 * MB))  # this process's high-water mark is now >= 600 MB, and stays so once freed
    del block
    status, out, err, peak = run_with_peak_rss([sys.executable, "-c", "print('hi')"])
    assert (status, out) == (0, "hi\n"), err
    # a bare interpreter is ~10 MB (the launcher's own floor is about as much); 600 MB if the parent's mark leaked
    assert 1 * MB < peak < 80 * MB, f"{peak / MB:.0f} MB"


def test_a_child_that_touches_300_mb_reports_them():
    code = f"b = bytearray({int(300 * MB)})\nfor i in range(0, len(b), 4096): b[i] = 1"
    status, out, err, peak = run_with_peak_rss([sys.executable, "-c", code])
    assert status == 0, err
    assert 300 * MB <= peak < 400 * MB, f"{peak / MB:.0f} MB"


def test_the_peak_of_the_childs_own_children_counts():
    # the command is a shell that runs python: its tree's peak is the grandchild's 200 MB
    code = f"b = bytearray({int(200 * MB)})\nfor i in range(0, len(b), 4096): b[i] = 1"
    status, out, err, peak = run_with_peak_rss(["sh", "-c", f'"{sys.executable}" -c "$0"; exit 3', code])
    assert status == 3, err
    assert 200 * MB <= peak < 300 * MB, f"{peak / MB:.0f} MB"


def test_a_child_over_the_memory_limit_is_killed_and_says_why():
    # grows 50 MB at a time, forever; the watchdog must stop it near 200 MB
    code = ("import time\nblocks = []\nwhile True:\n"
            f"    b = bytearray({int(50 * MB)})\n    for i in range(0, len(b), 4096): b[i] = 1\n"
            "    blocks.append(b)\n    time.sleep(0.05)")
    status, out, err, peak = run_with_peak_rss([sys.executable, "-c", code], kill_above_bytes=200 * MB, timeout=60)
    assert status == -signal.SIGKILL, err
    assert "killed: resident memory" in err
    assert 200 * MB < peak < 1000 * MB, f"{peak / MB:.0f} MB"


def test_a_child_over_the_time_limit_is_killed_with_its_own_children_and_says_why(tmp_path):
    # a shell whose child sleeps: both must go (the grandchild would otherwise hold the output files open)
    status, out, err, peak = run_with_peak_rss(["sh", "-c", "echo started; sleep 30; echo never"], timeout=1)
    assert status == -signal.SIGKILL, err
    assert out == "started\n"
    assert err.strip().endswith("killed: timeout")


def test_env_and_cwd_reach_the_command(tmp_path):
    code = "import os; print(os.environ['PEAK_RSS_PROBE'], os.getcwd())"
    status, out, err, peak = run_with_peak_rss([sys.executable, "-c", code], env={"PEAK_RSS_PROBE": "x"},
                                               cwd=tmp_path)
    assert status == 0, err
    assert out.split() == ["x", str(tmp_path)]


def test_a_missing_command_raises_like_popen(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError):
        run_with_peak_rss([str(tmp_path / "no such program")])
