"""The command line, run as a user runs it."""

import subprocess
import sys


def rnnkit(*args):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_commands():
    result = rnnkit("--help")
    assert result.returncode == 0
    assert "version" in result.stdout


def test_version():
    from rnnkit import __version__

    assert rnnkit("version").stdout.strip() == __version__


def test_unknown_command_is_one_clear_error():
    result = rnnkit("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "frobnicate" in result.stderr
