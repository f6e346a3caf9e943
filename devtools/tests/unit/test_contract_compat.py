"""The compatibility gate's rules, one small example each (passing and failing)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from chat_devtools import contract_compat as cc
from chat_devtools.contract_compat import (
    CHANGED,
    KNOWN_VALUE_REMOVED,
    LOOSENED,
    REMOVED,
    RETYPED,
    SCHEMA_REMOVED,
    TIGHTENED,
    Version,
    Violation,
    compare_schema,
    compare_trees,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

UUID = {"$ref": "../common/uuid.json"}
OPEN_ENUM = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[a-z][a-z0-9_]*$",
    "x-known-values": ["text", "edit"],
}


def frame(**properties: Any) -> dict[str, Any]:
    """A bus body: every given property required except those named ``*_opt``."""
    props = {name.removesuffix("_opt"): schema for name, schema in properties.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://contracts.chat.invalid/schemas/bus/x.v1.json",
        "title": "XV1",
        "description": "A body.",
        "type": "object",
        "required": [n.removesuffix("_opt") for n in properties if not n.endswith("_opt")],
        "properties": props,
    }


def rules(old: Any, new: Any, name: str = "bus/x.v1.json") -> list[tuple[str, str]]:
    """(path, rule) of every violation."""
    return [(v.path, v.rule) for v in compare_schema(name, old, new)]


BASE = frame(
    id=UUID,
    text={"type": "string", "minLength": 1, "maxLength": 4000},
    status={"type": "string", "enum": ["online", "away"]},
    kind_opt=OPEN_ENUM,
    ids_opt={"type": "array", "maxItems": 500, "uniqueItems": True, "items": UUID},
)


def changed(edit: Any) -> dict[str, Any]:
    new: dict[str, Any] = json.loads(json.dumps(BASE))  # no shared sub-dicts, unlike deepcopy
    edit(new)
    return new


# -- what passes ---------------------------------------------------------------------------------


def test_an_unchanged_schema_passes() -> None:
    assert rules(BASE, copy.deepcopy(BASE)) == []


def test_a_new_schema_file_passes() -> None:
    assert (
        compare_trees({"bus/x.v1.json": BASE}, {"bus/x.v1.json": BASE, "bus/y.v1.json": {}}) == []
    )


def test_a_new_optional_property_passes() -> None:
    assert rules(BASE, changed(lambda s: s["properties"].update(extra={"type": "boolean"}))) == []


def test_a_new_value_of_an_open_enum_passes() -> None:
    new = changed(lambda s: s["properties"]["kind"]["x-known-values"].append("reaction"))
    assert rules(BASE, new) == []


def test_documentation_edits_pass() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["title"] = "Renamed"
        s["description"] = "Other words."
        s["properties"]["text"]["description"] = "The text."
        s["properties"]["text"]["examples"] = ["hi"]
        s["properties"]["id"]["$comment"] = "why"

    assert rules(BASE, changed(edit)) == []


def test_the_same_ref_target_spelled_differently_passes() -> None:
    new = changed(lambda s: s["properties"].update(id={"$ref": "../bus/../common/uuid.json"}))
    assert rules(BASE, new) == []


def test_a_shape_every_closed_enum_value_already_had_passes() -> None:
    new = changed(lambda s: s["properties"]["status"].update(pattern="^[a-z]+$", maxLength=16))
    assert rules(BASE, new) == []


# -- removing ------------------------------------------------------------------------------------


def test_removing_a_schema_file_fails() -> None:
    found = compare_trees({"bus/x.v1.json": BASE, "bus/y.v1.json": BASE}, {"bus/x.v1.json": BASE})
    assert found == [Violation("bus/y.v1.json", "$", SCHEMA_REMOVED, found[0].detail)]


def test_removing_a_property_fails() -> None:
    assert rules(BASE, changed(lambda s: s["properties"].pop("kind"))) == [("$.kind", REMOVED)]


def test_renaming_a_property_is_reported_as_removing_it() -> None:
    def rename(s: dict[str, Any]) -> None:
        s["properties"]["body"] = s["properties"].pop("text")
        s["required"] = [n if n != "text" else "body" for n in s["required"]]

    found = compare_schema("bus/x.v1.json", BASE, changed(rename))
    assert [(v.path, v.rule) for v in found] == [("$.body", TIGHTENED), ("$.text", REMOVED)]
    assert 'renamed to "body"?' in str(found[1])


# -- retyping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "schema"),
    [
        ("text", {"type": "integer"}),  # type
        ("id", {"$ref": "../common/seq.json"}),  # $ref target
        ("id", {"type": "string", "format": "uuid"}),  # $ref → inline
        ("text", {"type": "string", "minLength": 1, "maxLength": 4000, "format": "email"}),
        ("status", {"enum": ["online", "away"], "const": "online"}),
    ],
)
def test_retyping_fails(field: str, schema: dict[str, Any]) -> None:
    new = changed(lambda s: s["properties"].update({field: schema}))
    assert rules(BASE, new) == [(f"$.{field}", RETYPED)]


def test_changing_a_const_fails() -> None:
    old = frame(type={"const": "ready"})
    assert rules(old, frame(type={"const": "hello"})) == [("$.type", RETYPED)]


# -- tightening ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda s: s["properties"].update(extra=UUID) or s["required"].append("extra"), "$.extra"),
        (lambda s: s["required"].append("kind"), "$.kind"),  # optional made required
        (lambda s: s["properties"]["status"]["enum"].remove("away"), "$.status"),
        (lambda s: s["properties"]["kind"].update(enum=["text", "edit"]), "$.kind"),  # open→closed
        (lambda s: s["properties"]["text"].update(minLength=2), "$.text"),
        (lambda s: s["properties"]["text"].update(maxLength=2000), "$.text"),
        (lambda s: s["properties"]["text"].update(pattern="\\S"), "$.text"),
        (lambda s: s["properties"]["ids"].update(minItems=1), "$.ids"),
        (lambda s: s["properties"]["ids"]["items"].update(maxLength=36), "$.ids[*]"),
        (lambda s: s.update(additionalProperties=False), "$.*"),
        (lambda s: s["properties"]["kind"].update(pattern="^[a-z]+$"), "$.kind"),
    ],
    ids=[
        "new-required-property",
        "optional-made-required",
        "closed-enum-lost-a-value",
        "open-enum-made-closed",
        "minLength-raised",
        "maxLength-lowered",
        "pattern-added",
        "minItems-added",
        "nested-items-bound",
        "additionalProperties-false",
        "pattern-changed-on-open-enum",
    ],
)
def test_tightening_fails(edit: Any, path: str) -> None:
    found = rules(BASE, changed(edit))
    assert len(found) == 1
    assert found[0][0] == path
    assert found[0][1] in {TIGHTENED, CHANGED}  # a changed pattern cannot be judged either way


def test_uniqueItems_added_tightens() -> None:
    old = frame(ids={"type": "array", "items": UUID})
    new = frame(ids={"type": "array", "items": UUID, "uniqueItems": True})
    assert rules(old, new) == [("$.ids", TIGHTENED)]


# -- loosening what a released reader still validates strictly -----------------------------------


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda s: s["properties"]["status"]["enum"].append("busy"), "$.status"),
        (lambda s: s["required"].remove("text"), "$.text"),
        (
            lambda s: s["properties"].update(status={**OPEN_ENUM, "x-known-values": ["online"]}),
            "$.status",
        ),
        (lambda s: s["properties"]["text"].update(maxLength=8000), "$.text"),
        (lambda s: s["properties"]["text"].pop("minLength"), "$.text"),
        (lambda s: s["properties"]["ids"].pop("uniqueItems"), "$.ids"),
        (lambda s: s["properties"]["status"].pop("enum"), "$.status"),
    ],
    ids=[
        "closed-enum-gained-a-value",
        "required-made-optional",
        "closed-enum-made-open",
        "maxLength-raised",
        "minLength-removed",
        "uniqueItems-removed",
        "enum-removed",
    ],
)
def test_loosening_fails(edit: Any, path: str) -> None:
    assert rules(BASE, changed(edit)) == [(path, LOOSENED)]


def test_opening_an_object_closed_by_additional_properties_fails() -> None:
    old = {**frame(id=UUID), "additionalProperties": False}
    assert rules(old, frame(id=UUID)) == [("$.*", LOOSENED)]
    grown = {**frame(id=UUID, note_opt={"type": "string"}), "additionalProperties": False}
    assert rules(old, grown) == [("$.note", LOOSENED)]


def test_a_lower_minimum_loosens() -> None:
    old = frame(seq={"type": "integer", "minimum": 1})
    assert rules(old, frame(seq={"type": "integer", "minimum": 0})) == [("$.seq", LOOSENED)]


# -- open enums ----------------------------------------------------------------------------------


def test_removing_a_known_value_fails() -> None:
    new = changed(lambda s: s["properties"]["kind"]["x-known-values"].remove("edit"))
    found = compare_schema("bus/x.v1.json", BASE, new)
    assert [(v.path, v.rule) for v in found] == [("$.kind", KNOWN_VALUE_REMOVED)]
    assert '"edit"' in found[0].detail


# -- everything else -----------------------------------------------------------------------------


def test_an_unknown_keyword_change_fails_as_changed() -> None:
    old = frame(n={"type": "number", "multipleOf": 2})
    assert rules(old, frame(n={"type": "number", "multipleOf": 3})) == [("$.n", CHANGED)]


def test_inline_subschemas_are_compared() -> None:
    old = frame(v={"anyOf": [{"type": "string", "maxLength": 5}, {"type": "integer"}]})
    new = frame(v={"anyOf": [{"type": "string", "maxLength": 4}, {"type": "integer"}]})
    assert rules(old, new) == [("$.v{anyOf/0}", TIGHTENED)]
    deep = frame(m={"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}})
    moved = copy.deepcopy(deep)
    moved["properties"]["m"]["properties"]["a"]["type"] = "integer"
    assert rules(deep, moved) == [("$.m.a", RETYPED)]


def test_a_violation_names_the_schema_the_field_and_the_rule() -> None:
    found = compare_schema("bus/x.v1.json", BASE, changed(lambda s: s["required"].remove("text")))
    text = str(found[0])
    assert text.startswith("bus/x.v1.json $.text: loosened: ")
    assert "required property 'text' made optional" in text


# -- a property: any schema compared with itself (or re-documented) passes ---------------------

NAMES = st.text("abcdefgh_", min_size=1, max_size=6)
LEAVES = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "boolean"])},
    optional={
        "minLength": st.integers(0, 5),
        "maxLength": st.integers(5, 10),
        "pattern": st.sampled_from(["^a", "b$"]),
        "enum": st.lists(NAMES, min_size=1, max_size=3, unique=True),
        "description": st.text(max_size=10),
    },
) | st.just(UUID)
SCHEMAS = st.recursive(
    LEAVES,
    lambda inner: (
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(NAMES, inner, max_size=4)},
            optional={"required": st.lists(NAMES, max_size=3, unique=True)},
        )
        | st.fixed_dictionaries({"type": st.just("array"), "items": inner})
    ),
    max_leaves=8,
)


def _redocument(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _redocument(v) for k, v in node.items() if k != "properties"}
        if "properties" in node:
            out["properties"] = {k: _redocument(v) for k, v in node["properties"].items()}
        out["description"] = "changed words"
        return out
    return node


@settings(max_examples=200, deadline=None)
@given(SCHEMAS)
def test_any_schema_is_compatible_with_itself(schema: dict[str, Any]) -> None:
    assert compare_schema("x.json", schema, json.loads(json.dumps(schema))) == []
    assert compare_schema("x.json", schema, _redocument(schema)) == []


@settings(max_examples=100, deadline=None)
@given(SCHEMAS, NAMES)
def test_adding_an_optional_property_to_any_object_passes(
    schema: dict[str, Any], name: str
) -> None:
    new = copy.deepcopy(schema)
    if new.get("type") == "object" and name not in new["properties"]:
        new["properties"][name] = {"type": "string"}
    assert compare_schema("x.json", schema, new) == []


# -- versions, snapshots, the command ------------------------------------------------------------


def test_versions_order_by_semver_precedence() -> None:
    ordered = [
        "0.1.0",
        "0.2.0-alpha",
        "0.2.0-alpha.1",
        "0.2.0-beta",
        "0.2.0-rc.1",
        "0.2.0",
        "0.10.0",
    ]
    parsed = [Version.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert Version.parse("1.0.0+build.5") == Version.parse("1.0.0")
    assert str(Version.parse("1.2.3-rc.1+b")) == "1.2.3-rc.1+b"
    for bad in ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "latest"]:
        with pytest.raises(ValueError, match="not a semantic version"):
            Version.parse(bad)


def _write(root: Path, tree: dict[str, Any]) -> None:
    for name, body in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(body), encoding="utf-8")


def test_the_gate_uses_the_newest_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    released = tmp_path / "released"
    _write(released / "0.9.0" / "schemas", {"bus/x.v1.json": frame(a=UUID, b=UUID)})
    _write(released / "0.10.0" / "schemas", {"bus/x.v1.json": frame(a=UUID)})
    (released / "0.10.0" / "COMMIT").write_text("a" * 40 + "\n", encoding="utf-8")
    (released / "README.md").write_text("ignored", encoding="utf-8")
    (released / "notes").mkdir()
    _write(tmp_path / "schemas", {"bus/x.v1.json": frame(a=UUID)})
    args = ["--schemas", str(tmp_path / "schemas"), "--released", str(released)]

    assert cc.main(args) == 0
    assert "1 schemas compatible with release 0.10.0" in capsys.readouterr().out
    assert cc.main([*args, "--against", "0.9.0"]) == 1
    out = capsys.readouterr().out
    assert "1 incompatible change(s) against release 0.9.0" in out
    assert "bus/x.v1.json $.b: property removed or renamed" in out
    assert cc.main([*args, "--against", "0.8.0"]) == 2


def test_no_snapshot_means_nothing_to_compare(tmp_path: Path) -> None:
    report = cc.check(tmp_path / "schemas", tmp_path / "released")
    assert report.ok
    assert report.snapshot is None
    assert "nothing to compare" in next(report.lines())
