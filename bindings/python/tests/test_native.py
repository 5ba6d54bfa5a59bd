"""The low level: the ctypes declarations against include/log_capturer.h,
and the raw ABI called with NULL pointers, bad values and wrong types on
purpose. None of it may crash; NULLs give CAPTURE_ERR_NULL_ARGUMENT."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from ctypes import POINTER, byref, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint8, c_uint32, c_void_p

import pytest

from conftest import REPO
from log_capturer import _native
from log_capturer._native import capture_batch, capture_batch_p, capture_handle_p, capture_log_callback, capture_record

HEADER = REPO / "include" / "log_capturer.h"
OFFLINE = b'{"docker_host": "unix:///nonexistent/log-capturer-test.sock", "log_level": "off"}'

# C type as cbindgen writes it -> the ctypes type the binding must use.
C_TYPES = {
    "enum capture_result": c_int,
    "void": None,
    "size_t": c_size_t,
    "uint32_t": c_uint32,
    "int32_t": c_int32,
    "int64_t": c_int64,
    "const char *": c_char_p,
    # An owned string is kept as an address (to free it); a buffer the
    # library writes into is a char_buffer_p, which refuses immutable bytes.
    "char *": (c_void_p, _native.char_buffer_p),
    "char **": POINTER(c_void_p),
    "void *": c_void_p,
    "const uint8_t *": POINTER(c_uint8),
    "struct capture_handle *": capture_handle_p,
    "const struct capture_handle *": capture_handle_p,
    "struct capture_handle **": POINTER(capture_handle_p),
    "struct capture_batch *": capture_batch_p,
    "struct capture_batch **": POINTER(capture_batch_p),
    "const struct capture_record *": POINTER(capture_record),
    "capture_log_callback": capture_log_callback,
}


def header_code() -> str:
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def split_declaration(declaration: str) -> tuple[str, str]:
    """'const char *config_json' -> ('const char *', 'config_json')."""
    match = re.fullmatch(r"(.*?[\s*])(\w+)", " ".join(declaration.split()))
    assert match, declaration
    return match.group(1).strip().replace(" *", " *").replace("* *", "**"), match.group(2)


def header_functions() -> dict[str, tuple[str, list[str]]]:
    code = " ".join(header_code().split())
    found = {}
    for ret, name, params in re.findall(r"((?:enum |const )?\w+ \*?)(capture_\w+)\(([^)]*)\);", code):
        types = [] if params.strip() == "void" else [split_declaration(p)[0] for p in params.split(",")]
        found[name] = (" ".join(ret.split()), types)
    return found


def header_struct(name: str) -> list[tuple[str, str]]:
    match = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header_code(), re.S)
    assert match, name
    return [split_declaration(field) for field in match.group(1).split(";") if field.strip()]


def normalize(c_type: str) -> str:
    return re.sub(r"\s*\*", " *", c_type).replace("* *", "**").strip()


def accepts(expected, actual) -> bool:
    return actual in expected if isinstance(expected, tuple) else actual == expected


def test_every_exported_function_is_declared_as_in_the_header():
    functions = header_functions()
    assert len(functions) >= 12, sorted(functions)
    assert set(functions) == set(_native.FUNCTIONS)
    lib = _native.load()
    for name, (ret, params) in functions.items():
        restype, argtypes = _native.FUNCTIONS[name]
        assert accepts(C_TYPES[normalize(ret)], restype), name
        assert len(argtypes) == len(params), name
        for param, argtype in zip(params, argtypes):
            assert accepts(C_TYPES[normalize(param)], argtype), (name, param)
        function = getattr(lib, name)
        assert function.restype == restype and function.argtypes == argtypes, name


@pytest.mark.parametrize("struct", [capture_record, capture_batch])
def test_structs_mirror_the_header_field_for_field(struct):
    fields = header_struct(struct.__name__)
    assert [name for _c, name in fields] == [name for name, _t in struct._fields_]
    for (c_type, name), (_n, ctype) in zip(fields, struct._fields_):
        assert accepts(C_TYPES[normalize(c_type)], ctype), name


def test_struct_layout_matches_the_c_compiler(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler (scripts/deps.sh installs gcc)")
    lines = []
    for struct in (capture_record, capture_batch):
        lines.append(f'printf("{struct.__name__} size %zu\\n", sizeof(struct {struct.__name__}));')
        for field, _t in struct._fields_:
            lines.append(f'printf("{struct.__name__}.{field} %zu\\n", offsetof(struct {struct.__name__}, {field}));')
    source = tmp_path / "layout.c"
    source.write_text(
        '#include <stdio.h>\n#include <stddef.h>\n#include "log_capturer.h"\nint main(void) {\n'
        + "\n".join(lines)
        + "\nreturn 0;\n}\n"
    )
    binary = tmp_path / "layout"
    subprocess.run([compiler, "-I", str(HEADER.parent), "-o", str(binary), str(source)], check=True)
    c_layout = dict(line.rsplit(" ", 1) for line in subprocess.check_output([str(binary)], text=True).splitlines())
    for struct in (capture_record, capture_batch):
        assert int(c_layout[f"{struct.__name__} size"]) == ctypes.sizeof(struct)
        for field, _t in struct._fields_:
            assert int(c_layout[f"{struct.__name__}.{field}"]) == getattr(struct, field).offset, field


@pytest.fixture
def lib():
    return _native.load()


@pytest.fixture
def handle(lib):
    out = capture_handle_p()
    assert lib.capture_start(OFFLINE, byref(out)) == _native.CAPTURE_OK
    assert out
    yield out
    lib.capture_free(out)


def last_error(lib, handle) -> str:
    buf = ctypes.create_string_buffer(4096)
    lib.capture_last_error(handle, buf, len(buf))
    return buf.value.decode()


def test_start_with_null_arguments(lib):
    out = capture_handle_p()
    assert lib.capture_start(None, None) == _native.CAPTURE_ERR_NULL_ARGUMENT
    assert lib.capture_start(b"{}", None) == _native.CAPTURE_ERR_NULL_ARGUMENT
    assert lib.capture_start(None, byref(out)) == _native.CAPTURE_ERR_NULL_ARGUMENT
    assert not out  # left as it was
    assert "NULL" in last_error(lib, None)


@pytest.mark.parametrize(
    "config, code",
    [
        (b"\xff\xfe{}", _native.CAPTURE_ERR_INVALID_ARGUMENT),
        (b"not json", _native.CAPTURE_ERR_INVALID_CONFIG),
        (b'["unix:///nonexistent.sock", 1]', _native.CAPTURE_ERR_INVALID_CONFIG),
        (b'{"rotation_interval": "soon"}', _native.CAPTURE_ERR_INVALID_CONFIG),
        (b"", _native.CAPTURE_ERR_INVALID_CONFIG),
    ],
)
def test_start_with_garbage_config(lib, config, code):
    out = capture_handle_p()
    try:
        assert lib.capture_start(config, byref(out)) == code
        assert not out
        assert last_error(lib, None)
    finally:
        lib.capture_free(out)  # NULL unless the library wrongly accepted it


def test_calls_on_a_handle_with_null_arguments(lib, handle):
    null = _native.CAPTURE_ERR_NULL_ARGUMENT
    batch = capture_batch_p()
    string = c_void_p()
    assert lib.capture_poll(None, 1, 0, byref(batch)) == null
    assert lib.capture_poll(handle, 1, 0, None) == null
    assert lib.capture_stats(None, byref(string)) == null
    assert lib.capture_stats(handle, None) == null
    assert lib.capture_container_info(None, b"x", byref(string)) == null
    assert lib.capture_container_info(handle, None, byref(string)) == null
    assert lib.capture_container_info(handle, b"x", None) == null
    assert lib.capture_set_log_callback(None, capture_log_callback(), None) == null
    assert lib.capture_stop(None) == null
    assert not batch and not string.value  # outputs untouched on failure
    lib.capture_free(None)
    lib.capture_batch_free(None)
    lib.capture_string_free(None)


def test_bad_values_on_a_handle(lib, handle):
    batch = capture_batch_p()
    string = c_void_p()
    assert lib.capture_poll(handle, 0, 0, byref(batch)) == _native.CAPTURE_ERR_INVALID_ARGUMENT
    assert "max_records" in last_error(lib, handle)
    assert lib.capture_container_info(handle, b"\xff\xfe", byref(string)) == _native.CAPTURE_ERR_INVALID_ARGUMENT
    assert lib.capture_container_info(handle, b"no-such-container", byref(string)) == _native.CAPTURE_ERR_NOT_FOUND
    assert "no-such-container" in last_error(lib, handle)
    assert not batch and not string.value


def test_wrong_python_types_are_refused_by_ctypes(lib, handle):
    batch = capture_batch_p()
    for call in (
        lambda: lib.capture_poll("handle", 1, 0, byref(batch)),
        lambda: lib.capture_poll(12345, 1, 0, byref(batch)),
        lambda: lib.capture_poll(handle, "many", 0, byref(batch)),
        lambda: lib.capture_stop(b"handle"),
        lambda: lib.capture_start("{}", None),  # str, not bytes
        lambda: lib.capture_set_log_callback(handle, None, None),
        lambda: lib.capture_result_message("4"),
        lambda: lib.capture_last_error(None, b"immutable", 9),
    ):
        with pytest.raises(ctypes.ArgumentError):
            call()


def test_poll_stats_and_stop_through_the_raw_abi(lib, handle):
    batch = capture_batch_p()
    assert lib.capture_poll(handle, 10, 0, byref(batch)) == _native.CAPTURE_OK
    assert batch.contents.len == 0 and batch.contents.message_bytes == 0
    lib.capture_batch_free(batch)

    string = c_void_p()
    assert lib.capture_stats(handle, byref(string)) == _native.CAPTURE_OK
    assert ctypes.string_at(string.value).startswith(b"{")
    lib.capture_string_free(string)

    calls = []
    callback = capture_log_callback(lambda _data, level, message: calls.append((level, message)))
    assert lib.capture_set_log_callback(handle, callback, None) == _native.CAPTURE_OK
    assert lib.capture_set_log_callback(handle, capture_log_callback(), None) == _native.CAPTURE_OK

    assert lib.capture_stop(handle) == _native.CAPTURE_OK
    assert lib.capture_stop(handle) == _native.CAPTURE_OK
    assert lib.capture_poll(handle, 10, 1000, byref(batch)) == _native.CAPTURE_ERR_STOPPED
    assert lib.capture_stats(handle, byref(string)) == _native.CAPTURE_OK
    lib.capture_string_free(string)


def test_last_error_reports_full_length_and_truncates(lib):
    out = capture_handle_p()
    assert lib.capture_start(b'{"a_key_that_does_not_exist": 1}', byref(out)) == _native.CAPTURE_ERR_INVALID_CONFIG
    full = lib.capture_last_error(None, None, 0)
    assert full > 10
    buf = ctypes.create_string_buffer(b"\xaa" * 8, 8)
    assert lib.capture_last_error(None, buf, 5) == full
    assert buf.raw[:5] == b"a_key"[:4] + b"\0"
    assert buf.raw[5:] == b"\xaa" * 3  # nothing written past len


def test_result_messages_and_version(lib):
    for code in (0, 1, 2, 3, 4, 5, 6, 7, 99):
        message = lib.capture_result_message(code)
        assert message and message != b"unknown result code", code
    assert lib.capture_result_message(12345) == b"unknown result code"
    assert lib.capture_result_message(-1) == b"unknown result code"
    assert re.fullmatch(rb"\d+\.\d+\.\d+.*", lib.capture_version())
