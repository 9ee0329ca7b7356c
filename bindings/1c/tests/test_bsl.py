"""The BSL modules of bindings/1c/bsl, read with the tree-sitter-bsl grammar.

- Every module parses; the grammar's two known gaps (a bare `ВызватьИсключение;` and the
  `Новый("…")` function form) are the only errors accepted, each listed in ACCEPTED_GAPS.
- Every method a module calls on the component (a variable holding `Новый("AddIn.…")`, found by
  following assignments, returns and parameters) exists in the add-in's method table
  (bindings/1c/src/addin.rs, METHODS) with that many parameters, and every property read is in
  PROPS: renaming a method or property there fails this test.
- A module with «Вызов сервера» (any client may call its exports) exports only the signing
  round trip, returns no token, and reaches no component method but those of the round trip:
  no token, no arbitrary request. Client modules call no server-only module.
- bindings/1c/README.md lists every module with the flags its header states.

Each check is also run on a deliberately wrong input, which it must reject.

Run by bindings/1c/tests/bsl.sh (which installs its requirements).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_bsl

ROOT = Path(__file__).resolve().parents[3]
BSL_DIR = Path(os.environ.get("SUZ_BSL_DIR", ROOT / "bindings/1c/bsl"))
ADDIN_RS = Path(os.environ.get("SUZ_ADDIN_RS", ROOT / "bindings/1c/src/addin.rs"))
README = ROOT / "bindings/1c/README.md"

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bsl.language()))

# The exports a server-call module may have: the signing round trip.
ROUND_TRIP = {"НачатьПолучениеТокена", "ЗавершитьПолучениеТокена", "ОтменитьПолучениеТокена"}
# The component methods the round trip needs (by their English names); Token, Request,
# InvalidateToken and the registration methods must stay out of a client's reach.
ROUND_TRIP_METHODS = {
    "Configure",
    "AcquireToken",
    "DataToSign",
    "SignatureKind",
    "CompleteToken",
    "CancelToken",
}

# Where tree-sitter-bsl 0.1.6 reports an error on valid BSL: (name, test on the error's line).
ACCEPTED_GAPS = {
    "bare ВызватьИсключение; (re-raise in an Исключение block)": lambda line, missing: missing
    and re.fullmatch(r"(ВызватьИсключение|Raise)\s*;", line, re.IGNORECASE) is not None,
    'Новый("…") function form': lambda line, missing: not missing
    and re.search(r"\b(Новый|New)\s*\(", line, re.IGNORECASE) is not None,
}


# --- The add-in's method table ------------------------------------------------------------


@dataclass
class AddinMethod:
    en: str
    ru: str
    total: int
    required: int


def method_table(text: str) -> tuple[dict[str, AddinMethod], dict[str, str]]:
    """METHODS and PROPS of addin.rs: lower-cased name (either language) -> entry."""
    props_block = text[text.index("pub const PROPS") : text.index("pub enum ParamDefault")]
    methods_block = text[text.index("pub const METHODS") : text.index("pub fn method(")]
    props = {}
    for en, ru in re.findall(r'names\("([^"]+)", "([^"]+)"\)', props_block):
        props[en.lower()] = props[ru.lower()] = en
    methods = {}
    for en, ru, params in re.findall(
        r'names\("([^"]+)", "([^"]+)"\),\s*params: &\[([^\]]*)\]', methods_block
    ):
        kinds = [p.strip() for p in params.split(",") if p.strip()]
        m = AddinMethod(en, ru, len(kinds), sum(1 for k in kinds if k == "Required"))
        methods[en.lower()] = methods[ru.lower()] = m
    return methods, props


# --- Modules ------------------------------------------------------------------------------


def text_of(node, src: bytes) -> str:
    return src[node.start_byte : node.end_byte].decode()


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def child(node, type_):
    return next((c for c in node.children if c.type == type_), None)


@dataclass
class Routine:
    name: str
    exported: bool
    is_function: bool
    params: list[str]
    node: object


@dataclass
class Module:
    name: str
    flags: set[str]
    src: bytes
    tree: object
    routines: dict[str, Routine] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return self.src.decode().splitlines()


def load(name: str, text: str) -> Module:
    src = text.encode()
    tree = PARSER.parse(src)
    first = text.splitlines()[0] if text else ""
    header = re.match(r"//\s*Общий модуль\s+(\S+)\s+\(([^)]*)\)", first)
    flags = {f.strip() for f in header.group(2).split(",")} if header else set()
    module = Module(name, flags, src, tree)
    for node in walk(tree.root_node):
        if node.type in ("function_definition", "procedure_definition"):
            params = [
                text_of(child(p, "identifier"), src)
                for p in child(node, "parameters").children
                if p.type == "parameter"
            ]
            name_ = text_of(child(node, "identifier"), src)
            module.routines[name_] = Routine(
                name_,
                child(node, "EXPORT_KEYWORD") is not None,
                node.type == "function_definition",
                params,
                node,
            )
    return module


def load_all(directory: Path = BSL_DIR) -> dict[str, Module]:
    return {p.stem: load(p.stem, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.bsl"))}


def syntax_problems(module: Module) -> list[str]:
    """Parse errors other than the accepted gaps, as 'module:line: text'."""
    problems = []
    lines = module.lines()
    for node in walk(module.tree.root_node):
        if node.type != "ERROR" and not node.is_missing:
            continue
        line = lines[node.start_point[0]].strip()
        if not any(ok(line, node.is_missing) for ok in ACCEPTED_GAPS.values()):
            problems.append(f"{module.name}:{node.start_point[0] + 1}: {line}")
    return problems


# --- Calls --------------------------------------------------------------------------------


@dataclass
class Call:
    module: str
    routine: str
    target: str  # "component", "local" or another module's name
    name: str
    args: int
    line: int


def arguments(method_call, src) -> list:
    args = child(method_call, "arguments")
    return [c for c in args.children if c.type == "expression"] if args else []


def call_parts(node, src):
    """A call_expression `X.m(...)`: (X, method_call node), when X is a plain identifier."""
    access, method = child(node, "access"), child(node, "method_call")
    if access is None or method is None or access.named_child_count != 1:
        return None
    ident = access.named_children[0]
    if ident.type != "identifier":
        return None
    return text_of(ident, src), method


def inner(expression):
    """The node an `expression` wraps."""
    while expression is not None and expression.type == "expression" and expression.named_child_count == 1:
        expression = expression.named_children[0]
    return expression


def makes_component(expr, src, module: Module, returning: set[tuple[str, str]]) -> bool:
    """Is this expression a component: `Новый("AddIn.…")` or a call of a routine returning one."""
    node = inner(expr)
    if node is None:
        return False
    if node.type == "new_expression_method":
        return re.search(r'"AddIn\.', text_of(node, src)) is not None
    if node.type == "method_call":
        return (module.name, text_of(child(node, "identifier"), src)) in returning
    if node.type == "call_expression":
        parts = call_parts(node, src)
        if parts:
            target, method = parts
            return (target, text_of(child(method, "identifier"), src)) in returning
    return False


def component_variables(modules: dict[str, Module]) -> dict[tuple[str, str], set[str]]:
    """(module, routine) -> names of its variables and parameters that hold the component,
    to a fixed point over assignments, returns and parameters passed a component."""
    holders: dict[tuple[str, str], set[str]] = {
        (m.name, r): set() for m in modules.values() for r in m.routines
    }
    returning: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for m in modules.values():
            src = m.src
            for r in m.routines.values():
                mine = holders[(m.name, r.name)]
                for node in walk(r.node):
                    if node.type == "assignment_statement":
                        target = child(node, "identifier")
                        value = child(node, "expression")
                        if target is not None and makes_component(value, src, m, returning):
                            name = text_of(target, src)
                            if name not in mine:
                                mine.add(name)
                                changed = True
                    elif node.type == "return_statement":
                        value = inner(child(node, "expression"))
                        if (
                            value is not None
                            and value.type == "identifier"
                            and text_of(value, src) in mine
                            and (m.name, r.name) not in returning
                        ):
                            returning.add((m.name, r.name))
                            changed = True
                    elif node.type in ("method_call", "call_expression"):
                        if node.type == "call_expression":
                            parts = call_parts(node, src)
                            if not parts or parts[0] not in modules:
                                continue
                            callee_module, method = modules[parts[0]], parts[1]
                        else:
                            if node.parent is not None and node.parent.type == "call_expression":
                                continue
                            callee_module, method = m, node
                        callee = callee_module.routines.get(text_of(child(method, "identifier"), src))
                        if callee is None:
                            continue
                        for i, arg in enumerate(arguments(method, src)):
                            value = inner(arg)
                            if (
                                i < len(callee.params)
                                and value is not None
                                and value.type == "identifier"
                                and text_of(value, src) in mine
                            ):
                                theirs = holders[(callee_module.name, callee.name)]
                                if callee.params[i] not in theirs:
                                    theirs.add(callee.params[i])
                                    changed = True
    return holders


def calls(modules: dict[str, Module]) -> tuple[list[Call], list[Call]]:
    """Every call (on the component, of a routine of this or another module) and every
    property read on the component."""
    holders = component_variables(modules)
    found, props = [], []
    for m in modules.values():
        src = m.src
        for r in m.routines.values():
            mine = holders[(m.name, r.name)]
            for node in walk(r.node):
                line = node.start_point[0] + 1
                if node.type == "call_expression":
                    parts = call_parts(node, src)
                    if not parts:
                        continue
                    target, method = parts
                    name = text_of(child(method, "identifier"), src)
                    args = len(arguments(method, src))
                    if target in mine:
                        found.append(Call(m.name, r.name, "component", name, args, line))
                    elif target in modules:
                        found.append(Call(m.name, r.name, target, name, args, line))
                elif node.type == "method_call" and node.parent.type != "call_expression":
                    name = text_of(child(node, "identifier"), src)
                    if name in m.routines:
                        found.append(Call(m.name, r.name, "local", name, len(arguments(node, src)), line))
                elif node.type == "property_access":
                    access = child(node, "access")
                    if access is not None and text_of(access, src) in mine:
                        prop = text_of(child(node, "property"), src)
                        props.append(Call(m.name, r.name, "component", prop, 0, line))
    return found, props


def method_problems(modules, methods, props) -> list[str]:
    found, read = calls(modules)
    problems = []
    for c in found:
        if c.target != "component":
            continue
        m = methods.get(c.name.lower())
        if m is None:
            problems.append(f"{c.module}:{c.line}: the component has no method {c.name}")
        elif not m.required <= c.args <= m.total:
            problems.append(
                f"{c.module}:{c.line}: {c.name} takes {m.required} to {m.total} parameters, {c.args} passed"
            )
    for c in read:
        if c.name.lower() not in props:
            problems.append(f"{c.module}:{c.line}: the component has no property {c.name}")
    return problems


def reachable(modules, start: tuple[str, str]) -> tuple[set[tuple[str, str]], list[Call]]:
    """Routines reachable from `start` through calls, and the component calls they make."""
    found, _ = calls(modules)
    by_routine: dict[tuple[str, str], list[Call]] = {}
    for c in found:
        by_routine.setdefault((c.module, c.routine), []).append(c)
    seen, todo, component = {start}, [start], []
    while todo:
        here = todo.pop()
        for c in by_routine.get(here, []):
            if c.target == "component":
                component.append(c)
                continue
            nxt = (here[0] if c.target == "local" else c.target, c.name)
            if nxt[0] in modules and nxt[1] in modules[nxt[0]].routines and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen, component


def returns_token(module: Module, routine: Routine) -> list[str]:
    """Why an exported routine of a server-call module may hand a token to the client."""
    src, why = module.src, []
    if not routine.is_function:
        return why
    for node in walk(routine.node):
        if node.type != "return_statement":
            continue
        line = node.start_point[0] + 1
        value = inner(child(node, "expression"))
        if value is None or value.type != "new_expression" or text_of(child(value, "identifier"), src) != "Структура":
            why.append(f"{module.name}:{line}: returns something other than Новый Структура(...)")
            continue
        args = arguments(value, src)
        keys = inner(args[0]) if args else None
        if keys is None or keys.type != "const_expression":
            why.append(f"{module.name}:{line}: the structure's keys are not a literal")
            continue
        names = [k.strip() for k in text_of(keys, src).strip('"').split(",")]
        if any(k.lower() == "токен" for k in names):
            why.append(f"{module.name}:{line}: returns a key Токен")
        for arg in args[1:]:
            v = inner(arg)
            if v.type == "property_access" and text_of(child(v, "property"), src).lower() == "токен":
                why.append(f"{module.name}:{line}: returns {text_of(v, src)}")
            elif v.type == "identifier" and text_of(v, src) not in ("Истина", "Ложь", "Неопределено"):
                why.append(f"{module.name}:{line}: returns the variable {text_of(v, src)}")
    return why


def server_call_problems(modules, methods) -> list[str]:
    problems = []
    for m in modules.values():
        if "Вызов сервера" not in m.flags:
            continue
        exports = {r.name for r in m.routines.values() if r.exported}
        if exports != ROUND_TRIP:
            problems.append(f"{m.name}: exports {sorted(exports)}, not only {sorted(ROUND_TRIP)}")
        for r in m.routines.values():
            if not r.exported:
                continue
            problems += returns_token(m, r)
            _, component = reachable(modules, (m.name, r.name))
            for c in component:
                method = methods.get(c.name.lower())
                if method is not None and method.en not in ROUND_TRIP_METHODS:
                    problems.append(
                        f"{m.name}.{r.name} reaches {c.module}:{c.line}: the component's {c.name}"
                    )
    return problems


def client_problems(modules) -> list[str]:
    """A client module may call only client modules and server-call ones."""
    problems = []
    found, _ = calls(modules)
    for c in found:
        if c.target in ("component", "local") or "Клиент" not in modules[c.module].flags:
            continue
        flags = modules[c.target].flags
        if "Клиент" not in flags and "Вызов сервера" not in flags:
            problems.append(f"{c.module}:{c.line}: calls {c.target}.{c.name}, a server-only module")
    return problems


# --- Tests --------------------------------------------------------------------------------

MODULES = load_all()
METHODS, PROPS = method_table(ADDIN_RS.read_text(encoding="utf-8"))


def test_the_modules_and_the_method_table_are_found():
    assert sorted(MODULES) == [
        "СУЗАвторизацияВызовСервера",
        "СУЗАвторизацияКлиент",
        "СУЗАвторизацияСервер",
    ]
    assert len({id(m) for m in METHODS.values()}) == 13
    assert sorted(set(PROPS.values())) == ["ErrorCode", "ErrorDescription", "HttpStatus", "Version"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_parses(name):
    module = MODULES[name]
    assert syntax_problems(module) == []
    assert module.routines, f"{name}: no procedure or function found"


def test_only_the_known_grammar_gaps_are_accepted():
    bad = load("Плохой", "Процедура П()\n\tА = ;\nКонецПроцедуры\n")
    assert syntax_problems(bad) == ["Плохой:2: А = ;"]
    gaps = load(
        "Пробелы",
        'Процедура П()\n\tК = Новый("AddIn.X.Y");\n\tПопытка\n\t\tА = 1;\n'
        "\tИсключение\n\t\tВызватьИсключение;\n\tКонецПопытки;\nКонецПроцедуры\n",
    )
    assert syntax_problems(gaps) == []


def test_every_component_call_and_property_is_in_the_method_table():
    found, read = calls(MODULES)
    on_component = sorted({c.name for c in found if c.target == "component"})
    # What the modules use today: a call the analysis stops seeing is a failure too.
    assert on_component == sorted([
        "ВидПодписи",
        "ДанныеДляПодписи",
        "ЗавершитьПолучениеТокена",
        "ЗавершитьРегистрациюУстановки",
        "Запрос",
        "НачатьРегистрациюУстановки",
        "Настроить",
        "ОтменитьПолучениеТокена",
        "ПолучитьТокен",
        "Токен",
    ])
    assert sorted({c.name for c in read}) == ["HTTPСтатус", "КодОшибки", "ОписаниеОшибки"]
    assert method_problems(MODULES, METHODS, PROPS) == []


def test_a_renamed_method_or_property_or_a_wrong_count_is_caught():
    text = ADDIN_RS.read_text(encoding="utf-8")
    renamed = text.replace('"ПолучитьТокен"', '"ВзятьТокен"').replace('"КодОшибки"', '"Код"')
    methods, props = method_table(renamed)
    problems = method_problems(MODULES, methods, props)
    assert any("no method ПолучитьТокен" in p for p in problems), problems
    assert any("no property КодОшибки" in p for p in problems), problems
    one_more = text.replace(
        'names("Token", "Токен"),\n        params: &[Required]',
        'names("Token", "Токен"),\n        params: &[Required, Required]',
    )
    assert one_more != text
    methods, props = method_table(one_more)
    assert [p for p in method_problems(MODULES, methods, props) if "Токен takes" in p] == [
        "СУЗАвторизацияСервер:"
        f"{next(c.line for c in calls(MODULES)[0] if c.name == 'Токен' and c.target == 'component')}"
        ": Токен takes 2 to 2 parameters, 1 passed"
    ]


def test_server_module_is_server_only_and_server_call_module_is_the_round_trip():
    assert MODULES["СУЗАвторизацияСервер"].flags == {"Сервер"}
    assert MODULES["СУЗАвторизацияВызовСервера"].flags == {"Сервер", "Вызов сервера"}
    assert MODULES["СУЗАвторизацияКлиент"].flags == {"Клиент"}
    assert server_call_problems(MODULES, METHODS) == []
    assert client_problems(MODULES) == []
    # The round trip does reach the component: the check above is not vacuous.
    _, component = reachable(MODULES, ("СУЗАвторизацияВызовСервера", "НачатьПолучениеТокена"))
    assert sorted({c.name for c in component}) == [
        "ВидПодписи",
        "ДанныеДляПодписи",
        "Настроить",
        "ПолучитьТокен",
    ]


SERVER_CALL_HEADER = "// Общий модуль СУЗАвторизацияВызовСервера (Сервер, Вызов сервера).\n"


def with_server_call_module(body: str) -> dict[str, Module]:
    modules = dict(MODULES)
    modules["СУЗАвторизацияВызовСервера"] = load("СУЗАвторизацияВызовСервера", SERVER_CALL_HEADER + body)
    return modules


ROUND_TRIP_OK = """
Функция НачатьПолучениеТокена(Профиль) Экспорт
	Начало = СУЗАвторизацияСервер.НачатьПолучениеТокена(Профиль);
	Возврат Новый Структура("ТокенЕсть, Состояние", ЗначениеЗаполнено(Начало.Токен), Начало.Состояние);
КонецФункции
Процедура ЗавершитьПолучениеТокена(Состояние, Подпись) Экспорт
	СУЗАвторизацияСервер.ЗавершитьПолучениеТокена(Состояние, Подпись);
КонецПроцедуры
Процедура ОтменитьПолучениеТокена(Состояние) Экспорт
	СУЗАвторизацияСервер.ОтменитьПолучениеТокена(Состояние);
КонецПроцедуры
"""


def test_a_server_call_module_that_leaks_a_token_or_a_request_is_caught():
    assert server_call_problems(with_server_call_module(ROUND_TRIP_OK), METHODS) == []

    extra = ROUND_TRIP_OK + (
        "Функция Запрос(П, М, Путь) Экспорт\n"
        "\tВозврат СУЗАвторизацияСервер.ВыполнитьЗапрос(П, М, Путь);\nКонецФункции\n"
    )
    problems = server_call_problems(with_server_call_module(extra), METHODS)
    assert any("exports" in p for p in problems), problems
    assert any("reaches" in p and "Запрос" in p for p in problems), problems

    # The token through a private helper: still reached from an export.
    hidden = ROUND_TRIP_OK.replace(
        "\tСУЗАвторизацияСервер.ОтменитьПолучениеТокена(Состояние);",
        "\tСУЗАвторизацияСервер.ОтменитьПолучениеТокена(Состояние);\n\tПомощник();",
    ) + "Процедура Помощник()\n\tТ = СУЗАвторизацияСервер.Токен(\"line1\");\nКонецПроцедуры\n"
    problems = server_call_problems(with_server_call_module(hidden), METHODS)
    assert any("ОтменитьПолучениеТокена reaches" in p and "Токен" in p for p in problems), problems

    returned = ROUND_TRIP_OK.replace(
        "ЗначениеЗаполнено(Начало.Токен), Начало.Состояние", "Начало.Токен, Начало.Состояние"
    )
    assert server_call_problems(with_server_call_module(returned), METHODS) == [
        "СУЗАвторизацияВызовСервера:5: returns Начало.Токен"
    ]
    finished = ROUND_TRIP_OK.replace(
        "Процедура ЗавершитьПолучениеТокена(Состояние, Подпись) Экспорт\n"
        "\tСУЗАвторизацияСервер.ЗавершитьПолучениеТокена(Состояние, Подпись);\nКонецПроцедуры",
        "Функция ЗавершитьПолучениеТокена(Состояние, Подпись) Экспорт\n"
        "\tТокен = СУЗАвторизацияСервер.ЗавершитьПолучениеТокена(Состояние, Подпись);\n"
        "\tВозврат Токен;\nКонецФункции",
    )
    assert server_call_problems(with_server_call_module(finished), METHODS) == [
        "СУЗАвторизацияВызовСервера:9: returns something other than Новый Структура(...)"
    ]


def test_a_client_module_calling_the_server_module_is_caught():
    modules = dict(MODULES)
    modules["Клиентский"] = load(
        "Клиентский",
        "// Общий модуль Клиентский (Клиент).\nПроцедура П() Экспорт\n"
        '\tСУЗАвторизацияСервер.Токен("line1");\nКонецПроцедуры\n',
    )
    assert client_problems(modules) == [
        "Клиентский:3: calls СУЗАвторизацияСервер.Токен, a server-only module"
    ]


def test_readme_lists_each_module_with_its_flags():
    readme = README.read_text(encoding="utf-8")
    for m in MODULES.values():
        flags = ", ".join(sorted(m.flags, key=["Сервер", "Вызов сервера", "Клиент"].index))
        assert f"`{m.name}` ({flags})" in readme, f"README lacks `{m.name}` ({flags})"
