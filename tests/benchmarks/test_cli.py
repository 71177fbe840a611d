"""The shared command-line scaffold: an expected error is one line and exit code 2, or a
traceback under --debug, for every ``python -m benchmarks.<name>``."""

import importlib
import os
import subprocess
import sys

import pytest

from benchmarks import _cli
from tests._featurizer_data import REPO


def _bad_runs(tmp):
    """Per command: a command line that fails on its input, the exception and its message."""
    missing = str(tmp / "missing")
    return {
        "run": (["--store", missing, "--jobs", "1"], FileNotFoundError, "no embedding store"),
        "synthetic": (["--n-epochs", "0", "--no-figure", "--out", str(tmp / "syn")],
                      ValueError, "n_epochs"),
        "perf": (["--memory-child", missing], FileNotFoundError, "X_tune.npy"),
        "train_erm": (["--dataset", "nope", "--root", missing, "--out", str(tmp / "erm")],
                      ValueError, "has no preset"),
        "reproduce": (["--dataset", "waterbirds", "--root", missing, "--out", str(tmp / "rep"),
                       "--erm-checkpoint", missing], FileNotFoundError, "does not exist"),
    }


COMMANDS = ["run", "synthetic", "perf", "train_erm", "reproduce"]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_expected_error_is_one_line_on_stderr_and_exit_code_2(command, tmp_path):
    argv, _, message = _bad_runs(tmp_path)[command]
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{command}", *argv], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"{command}: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_debug_lets_the_exception_through(command, tmp_path):
    argv, error, message = _bad_runs(tmp_path)[command]
    main = importlib.import_module(f"benchmarks.{command}").main
    with pytest.raises(error, match=message):
        main([*argv, "--debug"])


def test_debug_prints_the_traceback(tmp_path):
    argv, _, _ = _bad_runs(tmp_path)["run"]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", *argv, "--debug"], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "FileNotFoundError" in proc.stderr


def test_guarded_names_the_message_and_lets_bugs_through(capsys):
    def fails(exc):
        def run():
            raise exc
        return run

    assert _cli.guarded("prog", fails(KeyError("unknown dataset 'x'"))) == 2
    assert capsys.readouterr().err == "prog: error: unknown dataset 'x'\n"  # no KeyError quotes
    assert _cli.guarded("prog", fails(ImportError("pip install it"))) == 2
    assert capsys.readouterr().err == "prog: error: pip install it\n"
    with pytest.raises(RuntimeError):  # not an expected error: a bug keeps its traceback
        _cli.guarded("prog", fails(RuntimeError("bug")))
    assert _cli.guarded("prog", lambda: None) == 0
    assert _cli.guarded("prog", lambda: 3) == 3
