"""Loading the schemas once and validating against them (the hot path of every publish/consume)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chat_contracts._checks import is_date_time

__all__ = [
    "ContractError",
    "Problem",
    "UnknownTypeError",
    "is_known",
    "is_valid",
    "known_types",
    "problems",
    "schema",
    "schema_path",
    "title_of",
    "validate",
]

_MAX_SHOWN = 60  # characters of an offending value quoted in a problem (texts may be 4000 long)


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: where (``$.message.text``), which schema keyword, and plain words."""

    path: str
    keyword: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ContractError(ValueError):
    """A body or frame does not satisfy its contract; ``problems`` lists every broken rule."""

    def __init__(self, type_name: str, problems: tuple[Problem, ...]) -> None:
        self.type_name = type_name
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"{type_name} does not match its contract: {listed}")


class UnknownTypeError(ContractError):
    """No schema has this name: consumers ack and log such messages; publishers must not send."""

    def __init__(self, type_name: str) -> None:
        problem = Problem("$", "type", f"no contract is named {type_name!r}")
        super().__init__(type_name, (problem,))


# -- schema discovery ------------------------------------------------------------------------


def _schema_root() -> Traversable:
    """``chat_contracts/schemas`` inside a wheel; the repository's ``contracts/schemas`` otherwise.

    An editable install does not apply hatch's force-include, hence the fallback.
    """
    packaged = resources.files("chat_contracts") / "schemas"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2] / "schemas"
    if repo.is_dir():
        return repo
    raise RuntimeError(f"chat_contracts: schemas not found in the package nor at {repo}")


def _walk(
    node: Traversable, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            yield from _walk(child, (*prefix, child.name))
        elif child.name.endswith(".json"):
            yield (*prefix, child.name), child


def _type_name(parts: tuple[str, ...]) -> str | None:
    """``bus/x.v1.json`` → ``x.v1``; ``ws/client/x.v1.json`` → ``ws.client.x.v1``; common → None."""
    stem = parts[-1].removesuffix(".json")
    if parts[0] == "bus" and len(parts) == 2:
        return stem
    if parts[0] == "ws" and len(parts) == 3 and parts[1] in ("client", "server"):
        return f"ws.{parts[1]}.{stem}"
    return None


# -- format checks -----------------------------------------------------------------------------
# Our own checker, so uuid and date-time are asserted whichever optional jsonschema extras are
# installed (its date-time check needs rfc3339-validator, which is not a dependency).

_FORMATS = FormatChecker(formats=())
# The canonical 8-4-4-4-12 hex form only (no braces, URN prefix or missing hyphens). A compiled
# match instead of constructing uuid.UUID: ids are in every message, so this runs per field.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return _UUID.fullmatch(instance) is not None


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return is_date_time(instance)


def _as_predicate(check: Callable[[object], bool]) -> Callable[[str], bool]:
    def predicate(value: str) -> bool:
        try:
            return check(value)
        except ValueError:
            return False

    return predicate


_FAST_FORMATS = {"uuid": _as_predicate(_is_uuid), "date-time": _as_predicate(_is_date_time)}


# -- loading -----------------------------------------------------------------------------------
# Two validators per type. ``fast``: the schema with every $ref inlined, compiled to Python code by
# fastjsonschema (about 30x faster than jsonschema's interpreter with reference resolution); it
# answers "valid or not" on the hot path. ``full``: jsonschema, the reference implementation of
# draft 2020-12, used only once something is invalid, to list every problem. Both see the same
# keywords (our schemas use a subset that means the same in draft 7 and 2020-12); a contract test
# checks they agree.

FastValidator = Callable[[object], object]


def _inline(node: Any, base: str, by_id: Mapping[str, dict[str, Any]]) -> Any:
    """A copy of ``node`` with every ``$ref`` replaced by the (inlined) schema it points to."""
    if isinstance(node, list):
        return [_inline(item, base, by_id) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = urljoin(base, node["$ref"])
        referenced = by_id[target]
        merged = {k: v for k, v in referenced.items() if k not in ("$schema", "$id")}
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return _inline(merged, target, by_id)
    return {
        key: _inline(value, base, by_id)
        for key, value in node.items()
        if key not in ("$schema", "$id")
    }


def _load() -> tuple[
    dict[str, FastValidator],
    dict[str, Draft202012Validator],
    dict[str, dict[str, Any]],
    dict[str, str],
]:
    root = _schema_root()
    documents: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for parts, file in _walk(root):
        documents.append((parts, json.loads(file.read_text(encoding="utf-8"))))
    by_id = {doc["$id"]: doc for _, doc in documents}
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for _, doc in documents
    )
    fast: dict[str, FastValidator] = {}
    full: dict[str, Draft202012Validator] = {}
    schemas: dict[str, dict[str, Any]] = {}
    paths: dict[str, str] = {}
    for parts, doc in documents:
        name = _type_name(parts)
        if name is None:
            continue
        bundled = _inline(doc, doc["$id"], by_id)
        bundled["$schema"] = "http://json-schema.org/draft-07/schema#"
        fast[name] = fastjsonschema.compile(bundled, formats=_FAST_FORMATS, use_default=False)
        full[name] = Draft202012Validator(doc, registry=registry, format_checker=_FORMATS)
        schemas[name] = doc
        paths[name] = "/".join(parts)
    return fast, full, schemas, paths


_FAST, _VALIDATORS, _SCHEMAS, _PATHS = _load()
_KNOWN = frozenset(_VALIDATORS)


# -- public API --------------------------------------------------------------------------------


def known_types() -> frozenset[str]:
    """Every contract name: bus types and ``ws.client.*`` / ``ws.server.*`` frames."""
    return _KNOWN


def is_known(type_name: str) -> bool:
    return type_name in _VALIDATORS


def schema(type_name: str) -> dict[str, Any]:
    """A copy of the JSON Schema of ``type_name`` (its ``$ref``s point into ``common/``)."""
    try:
        return copy.deepcopy(_SCHEMAS[type_name])
    except KeyError:
        raise UnknownTypeError(type_name) from None


def title_of(type_name: str) -> str:
    """The schema's ``title``, which is also the name of its generated model class."""
    try:
        return str(_SCHEMAS[type_name]["title"])
    except KeyError:
        raise UnknownTypeError(type_name) from None


def schema_path(type_name: str) -> str:
    """Path of the schema file relative to the schemas directory, e.g. ``bus/read.v1.json``."""
    try:
        return _PATHS[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None


def problems(type_name: str, obj: object) -> tuple[Problem, ...]:
    """Every broken rule of ``obj`` against ``type_name``; empty when it is valid."""
    try:
        validator = _VALIDATORS[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None
    found: dict[tuple[str, str], Problem] = {}
    for error in validator.iter_errors(obj):
        problem = _describe(error)
        # uuid/date-time fail both their pattern and their format: say it once per place.
        found.setdefault((problem.path, problem.message), problem)
    return tuple(sorted(found.values(), key=lambda p: p.path))


def validate(type_name: str, obj: object) -> None:
    """Raise ``ContractError`` listing every problem unless ``obj`` satisfies ``type_name``."""
    try:
        check = _FAST[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None
    try:
        check(obj)
    except fastjsonschema.JsonSchemaValueException:
        found = problems(type_name, obj)
        if not found:  # the engines disagree: a bug in a schema or an engine; keep the reason
            found = (Problem("$", "schema", "rejected by the compiled validator"),)
        raise ContractError(type_name, found) from None


def is_valid(type_name: str, obj: object) -> bool:
    """True when ``obj`` satisfies ``type_name`` (compiled check only, nothing formatted)."""
    try:
        check = _FAST[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None
    try:
        check(obj)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


# -- messages ------------------------------------------------------------------------------------


def _path(error: ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


_FORMAT_WORDS = {
    "uuid": "a UUID like 123e4567-e89b-12d3-a456-426614174000",
    "date-time": "an RFC 3339 timestamp like 2026-11-26T15:04:05.123Z",
}


def _kind(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _describe(error: ValidationError) -> Problem:
    keyword = str(error.validator)
    expected: Any = error.validator_value
    value = error.instance
    sub = error.schema if isinstance(error.schema, Mapping) else {}
    fmt = sub.get("format")
    path = _path(error)
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return Problem(path, keyword, f"missing required field {missing!r}")
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(path, keyword, f"must be of type {wanted}, got {_kind(value)}")
    if keyword in ("pattern", "format") and fmt in _FORMAT_WORDS:
        return Problem(path, keyword, f"must be {_FORMAT_WORDS[fmt]}, got {_shown(value)}")
    if keyword == "pattern" and expected == r"\S":
        return Problem(path, keyword, "must contain at least one non-whitespace character")
    if keyword == "pattern":
        return Problem(path, keyword, f"{_shown(value)} does not match {expected}")
    if keyword == "maxLength" and isinstance(value, str):
        told = f"must be at most {expected} characters (it has {len(value)})"
        return Problem(path, keyword, told)
    if keyword == "minLength":
        return Problem(path, keyword, f"must be at least {expected} character(s) long")
    if keyword == "maxItems" and isinstance(value, list):
        return Problem(path, keyword, f"must have at most {expected} items (it has {len(value)})")
    if keyword == "uniqueItems":
        return Problem(path, keyword, "must not repeat an item")
    if keyword == "enum":
        options = ", ".join(map(str, expected))
        return Problem(path, keyword, f"must be one of {options}; got {_shown(value)}")
    if keyword == "const":
        return Problem(path, keyword, f"must be {expected!r}, got {_shown(value)}")
    if keyword in ("minimum", "exclusiveMinimum"):
        word = "at least" if keyword == "minimum" else "more than"
        return Problem(path, keyword, f"must be {word} {expected}, got {_shown(value)}")
    message = error.message
    return Problem(path, keyword, message if len(message) <= 200 else message[:197] + "...")
