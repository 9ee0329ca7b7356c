"""The C header is the source of truth: the built library, the ctypes declarations, the
exception map, the README's result-code table and ``suz_result_name`` must all agree with it."""

from __future__ import annotations

import ast
import ctypes
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import pytest

from suz_auth import _errors, _ffi

REPO = Path(__file__).resolve().parents[3]
HEADER = REPO / "include" / "suz_auth.h"
README = REPO / "README.md"
FFI_SOURCE = Path(_ffi.__file__)


@dataclass(frozen=True)
class CFunction:
    name: str
    restype: str  # normalised, e.g. "const char *"
    param_count: int


def _diff(left_name: str, left: Iterable[object], right_name: str, right: Iterable[object]) -> str:
    """A readable description of how two sets differ ("" if they are equal)."""
    a, b = set(left), set(right)
    lines = []
    for only, here, there in ((a - b, left_name, right_name), (b - a, right_name, left_name)):
        if only:
            lines.append(f"in {here} but not in {there}: {sorted(only)}")  # type: ignore[type-var]
    return "\n".join(lines)


def _strip_c(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _count_params(params: str) -> int:
    params = params.strip()
    if params in ("", "void"):
        return 0
    depth, count = 0, 1
    for ch in params:
        depth += ch == "("
        depth -= ch == ")"
        count += ch == "," and depth == 0
    return count


def parse_header_functions(text: str) -> dict[str, CFunction]:
    code = _strip_c(text)
    decl = re.compile(r"(?:^|(?<=[;{}]))\s*([A-Za-z_][\w\s*]*?)\b(suz_\w+)\s*\((.*?)\)\s*;", re.S)
    found: dict[str, CFunction] = {}
    for m in decl.finditer(code):
        restype = re.sub(r"\s*\*\s*", " *", " ".join(m.group(1).split())).strip()
        name = m.group(2)
        assert name not in found, f"{HEADER.name}: {name} is declared twice"
        found[name] = CFunction(name, restype, _count_params(m.group(3)))
    return found


def parse_header_results(text: str) -> dict[int, str]:
    code = _strip_c(text)
    body = re.search(r"enum\s+SuzResult\b[^{]*\{(.*?)\}", code, re.S)
    assert body, f"{HEADER.name}: no `enum SuzResult {{ ... }}` found"
    codes: dict[int, str] = {}
    for name, value in re.findall(r"\b(SUZ_RESULT_\w+)\s*=\s*(\d+)", body.group(1)):
        assert int(value) not in codes, f"{HEADER.name}: {value} is both {codes[int(value)]} and {name}"
        codes[int(value)] = name
    return codes


HEADER_TEXT = HEADER.read_text(encoding="utf-8")
FUNCTIONS = parse_header_functions(HEADER_TEXT)
RESULTS = parse_header_results(HEADER_TEXT)

# The ctypes restype each C return type in the header must be declared with.
C_TO_CTYPES: dict[str, Optional[type]] = {
    "void": None,
    "SuzResult": ctypes.c_uint32,
    "const char *": ctypes.c_char_p,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "size_t": ctypes.c_size_t,
}


def test_header_parses() -> None:
    assert len(FUNCTIONS) >= 10, f"only {len(FUNCTIONS)} suz_* functions parsed from {HEADER}"
    assert RESULTS.get(0) == "SUZ_RESULT_OK", f"{HEADER.name}: code 0 is {RESULTS.get(0)!r}, not SUZ_RESULT_OK"
    assert "suz_result_name" in FUNCTIONS, f"{HEADER.name}: suz_result_name not found"


def test_library_exports_match_header() -> None:
    if shutil.which("nm") is None:
        pytest.skip("`nm` is not installed")
    so = Path(_ffi.lib._name)
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True, check=True)
    symbols = [line.split() for line in out.stdout.splitlines() if line.strip()]
    text_symbols = {parts[-1] for parts in symbols if len(parts) >= 2 and parts[-2] == "T"}
    foreign = sorted(s for s in text_symbols if not s.startswith("suz_"))
    assert not foreign, f"{so.name} exports non-suz_ functions (T symbols): {foreign}"
    exported = {parts[-1] for parts in symbols if parts[-1].startswith("suz_")}
    problem = _diff(f"{so.name} (nm -D)", exported, HEADER.name, FUNCTIONS)
    assert not problem, f"exported symbols and header declarations differ:\n{problem}"


def _python_declared_names() -> set[str]:
    """Names passed to `_declare(...)`, plus any `lib.NAME.argtypes = ...` set by hand
    (`_load` declares `suz_version` that way to check the version before anything else)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(FFI_SOURCE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_declare":
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{FFI_SOURCE.name}:{node.lineno}: _declare's first argument is not a string literal"
            )
            names.add(first.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "argtypes"
                    and isinstance(target.value, ast.Attribute)
                    and target.value.attr.startswith("suz_")
                ):
                    names.add(target.value.attr)
    return names


def test_python_declarations_match_header() -> None:
    problem = _diff(f"{FFI_SOURCE.name} declarations", _python_declared_names(), HEADER.name, FUNCTIONS)
    assert not problem, f"ctypes declarations and header differ:\n{problem}"


def test_python_signatures_match_header() -> None:
    wrong: list[str] = []
    for name in sorted(_python_declared_names() & FUNCTIONS.keys()):
        fn, c = getattr(_ffi.lib, name), FUNCTIONS[name]
        count = len(fn.argtypes) if fn.argtypes is not None else None
        if count != c.param_count:
            wrong.append(f"{name}: header has {c.param_count} parameter(s), {FFI_SOURCE.name} has {count} argtype(s)")
        if c.restype not in C_TO_CTYPES:
            wrong.append(f"{name}: header return type {c.restype!r} has no known ctypes equivalent")
        elif fn.restype is not C_TO_CTYPES[c.restype]:
            expected = C_TO_CTYPES[c.restype]
            wrong.append(
                f"{name}: header returns {c.restype!r} (ctypes {getattr(expected, '__name__', expected)}), "
                f"{FFI_SOURCE.name} restype is {getattr(fn.restype, '__name__', fn.restype)}"
            )
    assert not wrong, "ctypes signatures differ from the header:\n" + "\n".join(wrong)


def _words(identifier: str) -> set[str]:
    """Lower-case words of a SNAKE_CASE or CamelCase name (INVALID_UTF8 and InvalidUtf8Error
    both give "invalid", "utf8")."""
    if "_" in identifier or identifier.isupper():
        return {w.lower() for w in identifier.split("_") if w}
    return {w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", identifier)}


def test_exception_map_matches_header() -> None:
    by_code: dict[int, type] = _errors._BY_CODE
    expected = {n for n in RESULTS if n != 0}
    problem = _diff("_errors._BY_CODE", by_code, f"{HEADER.name} (codes other than OK)", expected)
    assert not problem, f"exception map and header codes differ:\n{problem}"
    wrong: list[str] = []
    seen: dict[type, int] = {}
    for number in sorted(by_code):
        cls, name = by_code[number], RESULTS[number]
        if not (isinstance(cls, type) and issubclass(cls, _errors.SuzError)):
            wrong.append(f"{number} ({name}) maps to {cls!r}, not a SuzError subclass")
            continue
        if cls in seen:
            wrong.append(f"{number} ({name}) and {seen[cls]} ({RESULTS[seen[cls]]}) share {cls.__name__}")
        seen[cls] = number
        if getattr(cls, "code", number) != number:
            wrong.append(f"{number} ({name}) maps to {cls.__name__}, whose code is {cls.code}")
        # Every significant word of the code must appear in the class name, in any order
        # (HTTP_CLIENT_ERROR -> ClientHttpError, PANIC -> InternalPanicError).
        needed = _words(name.removeprefix("SUZ_RESULT_")) - {"error", "failed"}
        missing = needed - _words(cls.__name__)
        if missing:
            wrong.append(f"{number} ({name}) maps to {cls.__name__}, whose name lacks {sorted(missing)}")
    assert not wrong, "exception map disagrees with the header:\n" + "\n".join(wrong)


def parse_readme_codes(text: str) -> set[tuple[int, str]]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and "code" in cells and "name" in cells:
            code_col, name_col = cells.index("code"), cells.index("name")
            break
    else:
        pytest.fail(f"{README.name}: no table with `code` and `name` columns found")
    pairs: set[tuple[int, str]] = set()
    for line in lines[i + 2 :]:  # skip the header and the |---| row
        if not line.lstrip().startswith("|"):
            break
        cells = [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]
        assert cells[code_col].isdigit(), f"{README.name}: bad code cell {cells[code_col]!r} in {line!r}"
        pairs.add((int(cells[code_col]), cells[name_col]))
    return pairs


def test_readme_table_matches_header() -> None:
    readme = parse_readme_codes(README.read_text(encoding="utf-8"))
    problem = _diff(f"{README.name} table", readme, HEADER.name, RESULTS.items())
    assert not problem, f"README result-code table and header differ:\n{problem}"


def test_result_name_matches_header() -> None:
    wrong: list[str] = []
    past_end = max(RESULTS) + 1
    for number, expected in [*sorted(RESULTS.items()), (past_end, "SUZ_RESULT_UNKNOWN")]:
        raw = _ffi.lib.suz_result_name(number)
        got = raw.decode() if raw is not None else None
        if got != expected:
            wrong.append(f"suz_result_name({number}) returned {got!r}, expected {expected!r}")
    assert not wrong, "\n".join(wrong)
