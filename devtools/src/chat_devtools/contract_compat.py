"""The compatibility gate: the current schemas against the newest released snapshot.

``contracts/released/<version>/schemas`` holds the schemas of every release (written by
``chat_devtools.release``). Services are deployed one at a time, so a release must read what the
previous one writes and the previous one must read what it writes. Within a version only additive
changes pass:

- a new schema file;
- a new optional property (on an object the released schema does not close with
  ``additionalProperties: false``);
- a new value in an *open* enum (a node with ``x-known-values``: every reader accepts any value
  of the node's shape);
- edits of ``title``, ``description``, ``examples``, ``$comment``, ``deprecated``.

Everything else is a :class:`Violation` naming the schema file, the JSON path of the field
(``$.user_ids[*]``) and the rule it breaks (see :data:`RULES`). A keyword the gate does not know
counts as "changed": it never passes a change it cannot judge.

Usage: ``python -m chat_devtools.contract_compat`` (from the repository; ``--schemas``,
``--released`` and ``--against VERSION`` to compare other trees) prints every violation and exits
1, or prints what it compared and exits 0.
"""

from __future__ import annotations

import argparse
import functools
import json
import posixpath
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from chat_devtools.config import find_repo_root

# -- versions and snapshots ----------------------------------------------------------------------

# semver.org's own expression (2.0.0).
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A semantic version, ordered by semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        match = SEMVER.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 0.2.0)")
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or ""
        )

    @property
    def key(self) -> tuple[Any, ...]:
        # A release sorts above its pre-releases; numeric identifiers below alphanumeric ones.
        if not self.prerelease:
            pre: tuple[Any, ...] = (1,)
        else:
            pre = (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease))
        return (self.major, self.minor, self.patch, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")


@dataclass(frozen=True)
class Snapshot:
    """``contracts/released/<version>/``: the schemas of a release and the commit of its code."""

    version: Version
    path: Path

    @property
    def schemas(self) -> Path:
        return self.path / "schemas"

    @property
    def commit(self) -> str:
        """The full sha in ``COMMIT`` ("" when the file is missing)."""
        file = self.path / "COMMIT"
        return file.read_text(encoding="utf-8").strip() if file.is_file() else ""


def snapshots(released: Path) -> list[Snapshot]:
    """Every ``<semver>/`` folder of ``released``, oldest first (other names are ignored)."""
    found = []
    if released.is_dir():
        for child in released.iterdir():
            if child.is_dir() and SEMVER.match(child.name):
                found.append(Snapshot(Version.parse(child.name), child))
    return sorted(found, key=lambda s: s.version)


def newest_snapshot(released: Path) -> Snapshot | None:
    """The snapshot with the highest version, or None when nothing was released yet."""
    found = snapshots(released)
    return found[-1] if found else None


def load_tree(schemas: Path) -> dict[str, Any]:
    """Every ``*.json`` under ``schemas``, keyed by its POSIX path relative to it."""
    return {
        file.relative_to(schemas).as_posix(): json.loads(file.read_text(encoding="utf-8"))
        for file in sorted(schemas.rglob("*.json"))
    }


# -- rules ---------------------------------------------------------------------------------------

SCHEMA_REMOVED = "schema removed"
REMOVED = "property removed or renamed"
RETYPED = "retyped"
TIGHTENED = "tightened"
LOOSENED = "loosened"
KNOWN_VALUE_REMOVED = "known value removed"
CHANGED = "changed"

RULES: Mapping[str, str] = {
    SCHEMA_REMOVED: "a released schema file is gone: released producers still send it",
    REMOVED: "a property is gone (a rename is a removal plus an addition)",
    RETYPED: "`type`, `$ref` target, `const` or `format` changed",
    TIGHTENED: "accepts less than the release: what released producers send may be refused",
    LOOSENED: "accepts more than the release: released readers that validate strictly "
    "would refuse what the new producers send",
    KNOWN_VALUE_REMOVED: "a value left `x-known-values` (readers and generated types use the list)",
    CHANGED: "a keyword changed in a way the gate cannot prove additive",
}

# Keywords that only document a schema: edits pass.
DOCUMENTING = frozenset({"title", "description", "examples", "$comment", "deprecated"})
# Changing one of these changes what the field is.
TYPING = ("$ref", "type", "const", "format")
# Bounds: a higher lower bound or a lower upper bound accepts less.
LOWER_BOUNDS = frozenset(
    {"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum", "minContains"}
)
UPPER_BOUNDS = frozenset(
    {"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum", "maxContains"}
)
BOUNDS_AND_PATTERN = LOWER_BOUNDS | UPPER_BOUNDS | {"pattern"}
# Keywords compared together by dedicated code below.
OBJECT_KEYS = frozenset({"properties", "required", "additionalProperties"})
ENUM_KEYS = frozenset({"enum", "x-known-values"})
# Keywords whose value is one subschema, recursed into.
SUBSCHEMA_KEYS = frozenset(
    {"items", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
    | {"if", "then", "else"}
)
# Keywords whose value is a list of subschemas (compared position by position).
SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Keywords whose value maps names to subschemas.
SUBSCHEMA_MAPS = frozenset({"$defs", "definitions", "patternProperties", "dependentSchemas"})


@dataclass(frozen=True, order=True)
class Violation:
    """One incompatible change: where (schema file, JSON path), which rule, what exactly."""

    schema: str
    path: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.schema} {self.path}: {self.rule}: {self.detail}"


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(values: Sequence[Any]) -> str:
    return ", ".join(json.dumps(v, ensure_ascii=False) for v in values)


def _child(path: str, name: str) -> str:
    return (
        f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{path}[{name!r}]"
    )


@dataclass
class _Comparison:
    """Compares one schema file of the release (``old``) with its current version (``new``)."""

    schema: str
    found: list[Violation] = field(default_factory=list)

    def report(self, path: str, rule: str, detail: str) -> None:
        self.found.append(Violation(self.schema, path, rule, detail))

    def _ref(self, ref: Any) -> Any:
        """A relative ``$ref`` as a path from the schemas root (two spellings of a target match)."""
        if not isinstance(ref, str) or re.match(r"^[a-z][a-z0-9+.-]*:", ref):
            return ref
        target, _, fragment = ref.partition("#")
        if target:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(self.schema), target))
        return f"{target}#{fragment}" if fragment else target

    def node(self, old: Any, new: Any, path: str) -> None:
        if not isinstance(old, dict) or not isinstance(new, dict):
            if _canon(old) != _canon(new):
                self.report(path, CHANGED, f"schema {_canon(old)} became {_canon(new)}")
            return
        if self._typing(old, new, path):
            return  # a different type: what else changed says nothing more
        self._enums(old, new, path)
        self._object(old, new, path)
        handled = DOCUMENTING | OBJECT_KEYS | ENUM_KEYS | set(TYPING)
        for key in sorted((old.keys() | new.keys()) - handled):
            before, after = old.get(key), new.get(key)
            if key in BOUNDS_AND_PATTERN and _enum_still_fits(old, key, after):
                continue  # the released closed enum's values all meet the new bound
            if key in LOWER_BOUNDS or key in UPPER_BOUNDS:
                self._bound(key, before, after, path)
            elif key == "pattern":
                self._pattern(before, after, path)
            elif key == "uniqueItems":
                if bool(before) != bool(after):
                    rule = TIGHTENED if after else LOOSENED
                    self.report(
                        path, rule, f"uniqueItems {_canon(bool(before))} → {_canon(bool(after))}"
                    )
            elif key in SUBSCHEMA_KEYS:
                self._subschema(key, before, after, path)
            elif key in SUBSCHEMA_LISTS:
                self._subschema_list(key, before, after, path)
            elif key in SUBSCHEMA_MAPS:
                self._subschema_map(key, before, after, path)
            elif _canon(before) != _canon(after):
                self.report(path, CHANGED, f"{key} {_describe(before)} → {_describe(after)}")

    def _typing(self, old: dict[str, Any], new: dict[str, Any], path: str) -> bool:
        for key in TYPING:
            before, after = old.get(key), new.get(key)
            if key == "$ref":
                before, after = self._ref(before), self._ref(after)
            elif key == "type":
                before = sorted(before) if isinstance(before, list) else before
                after = sorted(after) if isinstance(after, list) else after
            if _canon(before) != _canon(after):
                self.report(path, RETYPED, f"{key} {_describe(before)} → {_describe(after)}")
                return True
        return False

    def _enums(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        old_known, new_known = old.get("x-known-values"), new.get("x-known-values")
        if old_enum is not None and new_enum is not None:
            before, after = {_canon(v): v for v in old_enum}, {_canon(v): v for v in new_enum}
            lost = [before[k] for k in before.keys() - after.keys()]
            gained = [after[k] for k in after.keys() - before.keys()]
            if lost:
                self.report(path, TIGHTENED, f"closed enum lost {_show(sorted(lost, key=_canon))}")
            if gained:
                self.report(
                    path,
                    LOOSENED,
                    f"closed enum gained {_show(sorted(gained, key=_canon))}: released readers "
                    "refuse it (open the enum with x-known-values in a release first)",
                )
        elif old_enum is not None:
            if new_known is not None:
                detail = "closed enum made open (x-known-values): released readers still refuse "
                self.report(path, LOOSENED, detail + "values outside the enum")
            else:
                self.report(path, LOOSENED, "enum removed: released readers refuse other values")
        elif new_enum is not None:
            if old_known is not None:
                self.report(path, TIGHTENED, "open enum (x-known-values) made closed (enum)")
            else:
                self.report(path, TIGHTENED, f"enum added: only {_show(new_enum)} accepted")
        elif old_known is not None:
            lost = [v for v in old_known if _canon(v) not in {_canon(n) for n in new_known or []}]
            if lost:
                self.report(path, KNOWN_VALUE_REMOVED, f"x-known-values lost {_show(lost)}")

    def _object(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = old.get("properties") or {}
        new_props: dict[str, Any] = new.get("properties") or {}
        old_req, new_req = set(old.get("required") or ()), set(new.get("required") or ())
        removed = [name for name in old_props if name not in new_props]
        added = [name for name in new_props if name not in old_props]
        for name in removed:
            hint = f" (renamed to {_show(added)}?)" if added else ""
            self.report(_child(path, name), REMOVED, f"property {name!r} removed{hint}")
        closed = old.get("additionalProperties") is False
        for name in sorted((new_req - old_req) - set(old_props)):
            self.report(_child(path, name), TIGHTENED, f"new required property {name!r}")
        for name in added:
            if name not in new_req and closed:
                self.report(
                    _child(path, name),
                    LOOSENED,
                    f"new property {name!r} on an object the release closes with "
                    "additionalProperties: false",
                )
        for name in sorted((old_req - new_req) - set(removed)):
            self.report(
                _child(path, name),
                LOOSENED,
                f"required property {name!r} made optional: released readers still require it",
            )
        for name, schema in old_props.items():
            if name not in new_props:
                continue
            if name in new_req and name not in old_req:
                self.report(
                    _child(path, name), TIGHTENED, f"optional property {name!r} made required"
                )
            self.node(schema, new_props[name], _child(path, name))
        self._additional(old.get("additionalProperties"), new.get("additionalProperties"), path)

    def _additional(self, before: Any, after: Any, path: str) -> None:
        where = path + ".*"
        if isinstance(before, dict) and isinstance(after, dict):
            self.node(before, after, where)
            return
        # Absent means true: any other property allowed.
        before = True if before is None else before
        after = True if after is None else after
        if _canon(before) == _canon(after):
            return
        # true, or a schema where false was, accepts more; false, or a schema where true was, less
        rule = LOOSENED if after is True or before is False else TIGHTENED
        self.report(where, rule, f"additionalProperties {_describe(before)} → {_describe(after)}")

    def _bound(self, key: str, before: Any, after: Any, path: str) -> None:
        if _canon(before) == _canon(after):
            return
        lower = key in LOWER_BOUNDS
        if before is None:
            rule = TIGHTENED
        elif after is None:
            rule = LOOSENED
        elif not isinstance(before, int | float) or not isinstance(after, int | float):
            rule = CHANGED
        else:
            rule = TIGHTENED if (after > before) == lower else LOOSENED
        self.report(path, rule, f"{key} {_describe(before)} → {_describe(after)}")

    def _pattern(self, before: Any, after: Any, path: str) -> None:
        if before == after:
            return
        if before is None:
            rule = TIGHTENED
        elif after is None:
            rule = LOOSENED
        else:
            rule = CHANGED  # no general way to tell which of two expressions accepts more
        self.report(path, rule, f"pattern {_describe(before)} → {_describe(after)}")

    def _subschema(self, key: str, before: Any, after: Any, path: str) -> None:
        where = path + "[*]" if key == "items" else f"{path}{{{key}}}"
        if before is None or after is None:
            if before is not None or after is not None:
                rule = TIGHTENED if before is None else LOOSENED
                if key in {"if", "then", "else"}:
                    rule = CHANGED
                added = "added" if before is None else "removed"
                self.report(where, rule, f"{key} {added}")
            return
        self.node(before, after, where)

    def _subschema_list(self, key: str, before: Any, after: Any, path: str) -> None:
        if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
            for index, (one, other) in enumerate(zip(before, after, strict=True)):
                self.node(one, other, f"{path}{{{key}/{index}}}")
        elif _canon(before) != _canon(after):
            self.report(path, CHANGED, f"{key} {_describe(before)} → {_describe(after)}")

    def _subschema_map(self, key: str, before: Any, after: Any, path: str) -> None:
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        for name in sorted(before.keys() | after.keys()):
            where = f"{path}{{{key}/{name}}}"
            if name not in after:
                rule = REMOVED if key in {"$defs", "definitions"} else CHANGED
                self.report(where, rule, f"{key} entry {name!r} removed")
            elif name not in before:
                if key not in {"$defs", "definitions"}:
                    self.report(where, CHANGED, f"{key} entry {name!r} added")
            else:
                self.node(before[name], after[name], where)


def _enum_still_fits(old: dict[str, Any], key: str, after: Any) -> bool:
    """True when the released node was a closed enum whose every value meets ``key: after``.

    Opening an enum usually adds a shape (pattern, lengths) its values always had: that accepts
    nothing less than the release did.
    """
    values = old.get("enum")
    if not isinstance(values, list) or after is None:
        return False
    try:
        validator = Draft202012Validator({key: after})
        return all(validator.is_valid(value) for value in values)
    except (SchemaError, re.error):
        return False


def _describe(value: Any) -> str:
    return "(absent)" if value is None else _canon(value)


def compare_schema(name: str, old: Any, new: Any) -> list[Violation]:
    """The violations of one schema file (``name`` relative to the schemas root)."""
    comparison = _Comparison(name)
    comparison.node(old, new, "$")
    return sorted(comparison.found)


def compare_trees(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Violation]:
    """Every violation between two schema trees (as :func:`load_tree` gives them), sorted."""
    found = []
    for name in sorted(old):
        if name not in new:
            found.append(
                Violation(name, "$", SCHEMA_REMOVED, "the schema file is gone (or was moved)")
            )
        else:
            found += compare_schema(name, old[name], new[name])
    return sorted(found)


@dataclass(frozen=True)
class Report:
    """What the gate compared and what it found."""

    snapshot: Snapshot | None
    compared: int
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self, root: Path | None = None) -> Iterator[str]:
        if self.snapshot is None:
            yield "contract-compat: no released snapshot: nothing to compare (first release)"
            return
        where = self.snapshot.path
        if root is not None and where.is_relative_to(root):
            where = where.relative_to(root)
        commit = self.snapshot.commit[:12] or "no COMMIT file"
        against = f"release {self.snapshot.version} ({where}, commit {commit})"
        if self.ok:
            yield f"contract-compat: {self.compared} schemas compatible with {against}"
            return
        yield f"contract-compat: {len(self.violations)} incompatible change(s) against {against}:"
        for violation in self.violations:
            yield f"  {violation}"
        yield (
            "Within a release only additive changes pass (a new schema, a new optional property, "
            "a new value of an open enum, documentation). Rules and the two-release way to make "
            "other changes: docs/releasing.md."
        )


def check(schemas: Path, released: Path, against: str | None = None) -> Report:
    """Compare ``schemas`` with the newest snapshot in ``released`` (or version ``against``)."""
    if against is not None:
        version = Version.parse(against)
        chosen = [s for s in snapshots(released) if s.version == version]
        if not chosen:
            raise FileNotFoundError(f"no snapshot {against} in {released}")
        snapshot: Snapshot | None = chosen[0]
    else:
        snapshot = newest_snapshot(released)
    if snapshot is None:
        return Report(None, 0, ())
    if not snapshot.schemas.is_dir():
        raise FileNotFoundError(f"{snapshot.schemas} is missing")
    old, new = load_tree(snapshot.schemas), load_tree(schemas)
    return Report(snapshot, len(old.keys() & new.keys()), tuple(compare_trees(old, new)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chat_devtools.contract_compat",
        description="Compare the contract schemas with the newest released snapshot; exit 1 on "
        "any change that is not additive.",
    )
    parser.add_argument("--schemas", type=Path, help="default: contracts/schemas")
    parser.add_argument("--released", type=Path, help="default: contracts/released")
    parser.add_argument("--against", metavar="VERSION", help="a snapshot other than the newest")
    args = parser.parse_args(argv)
    root = find_repo_root()
    schemas: Path = args.schemas or root / "contracts" / "schemas"
    released: Path = args.released or root / "contracts" / "released"
    try:
        report = check(schemas.resolve(), released.resolve(), args.against)
    except (FileNotFoundError, ValueError) as exc:
        print(f"contract-compat: {exc}", file=sys.stderr)
        return 2
    for line in report.lines(root):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
