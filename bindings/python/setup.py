"""Builds the Rust library with setuptools-rust and ships it inside the
package (`log_capturer/liblog_capturer.abi3.so`), loaded with ctypes: no
Python extension module, no PyO3.

The crate is the repository's (`../../Cargo.toml`), so wheels are built
from a checkout: `pip install ./bindings/python`, `pip wheel
./bindings/python`. Cargo builds into `target/python` of the checkout (or
`$CARGO_TARGET_DIR`), apart from `target/release`: setuptools-rust asks
cargo for the cdylib alone, which would otherwise rebuild the crate there
each time.
"""

import os
import re
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools_rust import Binding, RustExtension, Strip

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MANIFEST = ROOT / "Cargo.toml"


def crate_version() -> str:
    """The library's version, from Cargo.toml's [package] table."""
    text = MANIFEST.read_text(encoding="utf-8")
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.MULTILINE)
    if match is None:
        raise SystemExit(f"{MANIFEST}: no version in [package]")
    return match.group(1)


class bdist_wheel_any_python(bdist_wheel):
    """The library is not a Python extension (ctypes loads it), so the wheel
    fits any Python 3 on its platform: py3-none-<platform>."""

    def get_tag(self):
        _python, _abi, platform = super().get_tag()
        return "py3", "none", platform


environment = dict(os.environ)
environment.setdefault("CARGO_TARGET_DIR", str(ROOT / "target" / "python"))

setup(
    version=crate_version(),
    cmdclass={"bdist_wheel": bdist_wheel_any_python},
    rust_extensions=[
        RustExtension(
            "log_capturer.liblog_capturer",
            path=str(MANIFEST),
            binding=Binding.NoBinding,
            # Named .abi3.so: it depends on no Python version.
            py_limited_api=True,
            strip=Strip.Debug,
            env=environment,
        )
    ],
)
