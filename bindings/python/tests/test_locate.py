"""Finding liblog_capturer.so: $LOG_CAPTURER_LIB, a copy in the package,
cargo's target directories; an error that lists every place looked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import log_capturer
from conftest import REPO
from log_capturer import _native

LIB = _native.LIBRARY_FILE


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def tree(tmp_path):
    """A fake checkout: <tmp>/repo/bindings/python/pkg and <tmp>/repo/work/dir."""
    package = tmp_path / "repo" / "bindings" / "python" / "pkg"
    cwd = tmp_path / "repo" / "work" / "dir"
    package.mkdir(parents=True)
    cwd.mkdir(parents=True)
    return tmp_path, package, cwd


def test_environment_variable_wins_and_is_the_only_candidate(tree):
    root, package, cwd = tree
    touch(package / LIB)
    chosen = touch(root / "elsewhere" / LIB)
    env = {"LOG_CAPTURER_LIB": str(chosen)}
    assert _native.find_library(env, package, cwd) == chosen
    missing = root / "missing" / LIB
    with pytest.raises(log_capturer.LibraryNotFoundError) as caught:
        _native.find_library({"LOG_CAPTURER_LIB": str(missing)}, package, cwd)
    assert caught.value.searched == [str(missing)]
    assert "LOG_CAPTURER_LIB" in str(caught.value)


def test_copy_inside_the_package_comes_before_cargo_builds(tree):
    root, package, cwd = tree
    touch(root / "repo" / "target" / "release" / LIB)
    inside = touch(package / LIB)
    assert _native.find_library({}, package, cwd) == inside


def test_cargo_build_found_above_the_package_release_before_debug(tree):
    root, package, cwd = tree
    touch(root / "repo" / "target" / "debug" / LIB)
    assert _native.find_library({}, package, cwd) == root / "repo" / "target" / "debug" / LIB
    release = touch(root / "repo" / "target" / "release" / LIB)
    assert _native.find_library({}, package, cwd) == release


def test_cargo_build_found_above_the_current_directory(tmp_path):
    package = tmp_path / "site-packages" / "log_capturer"
    package.mkdir(parents=True)
    cwd = tmp_path / "checkout" / "sub"
    cwd.mkdir(parents=True)
    built = touch(tmp_path / "checkout" / "target" / "release" / LIB)
    assert _native.find_library({}, package, cwd) == built


def test_cargo_target_dir(tree):
    root, package, cwd = tree
    built = touch(root / "custom-target" / "debug" / LIB)
    assert _native.find_library({"CARGO_TARGET_DIR": str(root / "custom-target")}, package, cwd) == built


def test_not_found_lists_every_place_looked(tree):
    root, package, cwd = tree
    with pytest.raises(log_capturer.LibraryNotFoundError) as caught:
        _native.find_library({}, package, cwd)
    error = caught.value
    assert isinstance(error, log_capturer.CaptureError)
    searched = error.searched
    assert searched[:2] == [str(package / "liblog_capturer.abi3.so"), str(package / LIB)]
    assert str(root / "repo" / "target" / "release" / LIB) in searched
    assert str(root / "repo" / "target" / "debug" / LIB) in searched
    assert str(cwd / "target" / "release" / LIB) in searched
    assert str(Path("/target/release") / LIB) in searched
    assert len(searched) == len(set(searched))
    for path in searched:
        assert path in str(error)
    assert "LOG_CAPTURER_LIB" in str(error) and "cargo build" in str(error)


def library_error_in_fresh_interpreter(library: Path, call: str, cwd: Path) -> str:
    """Runs ``call`` in a new interpreter with $LOG_CAPTURER_LIB=library;
    returns the LibraryNotFoundError it raised (its searched list, then its message)."""
    env = dict(os.environ, LOG_CAPTURER_LIB=str(library), PYTHONPATH=str(Path(log_capturer.__file__).parent.parent))
    script = (
        "import log_capturer\n"
        "try:\n"
        f"    {call}\n"
        "except log_capturer.LibraryNotFoundError as e:\n"
        "    print(e.searched, e)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout, "no LibraryNotFoundError was raised"
    return result.stdout


def test_import_does_not_need_the_library_and_use_reports_it(tmp_path):
    """Importing works where nothing can be found; starting a capture then
    raises LibraryNotFoundError (no crash, no ImportError)."""
    missing = tmp_path / "nothing" / LIB
    assert str(missing) in library_error_in_fresh_interpreter(missing, "log_capturer.Capture({})", tmp_path)


def test_a_file_that_is_not_a_library_is_reported(tmp_path):
    bogus = tmp_path / LIB
    bogus.write_text("not an ELF file")
    assert "could not be loaded" in library_error_in_fresh_interpreter(bogus, "log_capturer.library_version()", tmp_path)


def test_the_library_pip_built_comes_before_a_copy(tree):
    root, package, cwd = tree
    touch(package / LIB)
    built = touch(package / "liblog_capturer.abi3.so")
    assert _native.find_library({}, package, cwd) == built


def test_the_installed_package_loads_the_library_inside_it():
    """Run by test.sh from a venv outside the checkout: the package is the
    installed one, and the library it loads is the one its wheel shipped."""
    package = Path(log_capturer.__file__).resolve().parent
    loaded = Path(log_capturer.library_path()).resolve()
    if "LOG_CAPTURER_LIB" in os.environ:
        pytest.skip("$LOG_CAPTURER_LIB chooses the library")
    assert not package.is_relative_to(REPO), f"{package} is the source tree, not an installed package"
    assert loaded.parent == package, loaded
    assert log_capturer.__version__ == log_capturer.library_version()
