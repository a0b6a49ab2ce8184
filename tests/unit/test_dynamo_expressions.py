"""The emulator's expression language: parsing, evaluation, updates, projections, keys."""

from __future__ import annotations

from typing import Any

import pytest

from local.dynamo import expressions as ex
from local.dynamo import updates
from local.dynamo.errors import DynamoError
from local.dynamo.values import canonical_number, check_item, equal

ITEM: dict[str, Any] = {
    "pk": {"S": "ROOM#1"},
    "sk": {"S": "CONN#a#s1"},
    "n": {"N": "10"},
    "state": {"S": "open"},
    "tags": {"SS": ["x", "y"]},
    "nums": {"NS": ["1", "2.5"]},
    "entries": {"L": [{"S": "a"}, {"N": "2"}]},
    "doc": {"M": {"nested": {"S": "deep"}, "count": {"N": "3"}}},
    "flag": {"BOOL": True},
    "pending": {"L": [{"S": "p1"}, {"S": "p2"}]},
}


def holds(expression: str, names: dict[str, str] | None = None, **values: Any) -> bool:
    env = ex.Env(names or {}, {f":{k}": v for k, v in values.items()})
    parsed = env.use(ex.parse_condition(expression))
    result = ex.evaluate(parsed.tree, ITEM, env)
    env.check_all_used()
    return result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_exists(pk)", True),
        ("attribute_not_exists(pk)", False),
        ("attribute_not_exists(absent)", True),
        ("n = :ten", True),
        ("n <> :ten", False),
        ("absent <> :ten", True),  # an absent operand is unequal to anything
        ("absent = :ten", False),
        ("n > :nine AND n < :eleven", True),
        ("n BETWEEN :nine AND :ten", True),
        ("n IN (:nine, :ten)", True),
        ("NOT n = :ten OR begins_with(sk, :conn)", True),
        ("NOT (n = :ten OR begins_with(sk, :conn))", False),
        ("size(tags) = :two AND size(entries) = :two AND size(doc) = :two", True),
        ("contains(tags, :x) AND contains(sk, :s1) AND contains(entries, :a)", True),
        ("contains(nums, :two_and_half)", True),
        ("doc.nested = :deep AND entries[1] = :two AND doc.#c = :three", True),
        ("attribute_type(flag, :bool_type)", True),
        ("n < :txt", False),  # different types never order
    ],
)
def test_conditions(text: str, expected: bool) -> None:
    values = {
        "ten": {"N": "10.0"},
        "nine": {"N": "9"},
        "eleven": {"N": "11"},
        "two": {"N": "2"},
        "conn": {"S": "CONN#"},
        "x": {"S": "x"},
        "s1": {"S": "s1"},
        "a": {"S": "a"},
        "two_and_half": {"N": "2.50"},
        "deep": {"S": "deep"},
        "three": {"N": "3"},
        "bool_type": {"S": "BOOL"},
        "txt": {"S": "10"},
    }
    parsed = ex.parse_condition(text)
    used = {v[1:] for v in parsed.values}
    names = {"#c": "count"} if "#c" in text else {}
    assert holds(text, names, **{k: v for k, v in values.items() if k in used}) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("state = :s", "reserved keyword: state"),
        ("n = ", "Syntax error"),
        ("n == :s", "Syntax error"),
        ("frobnicate(n)", "Invalid function name"),
        ("", "can not be empty"),
    ],
)
def test_bad_conditions_are_validation_errors(text: str, message: str) -> None:
    with pytest.raises(DynamoError) as caught:
        ex.parse_condition(text)
    assert caught.value.kind == "ValidationException"
    assert message in caught.value.message


def test_undefined_and_unused_placeholders_are_refused() -> None:
    env = ex.Env({"#s": "state"}, {":v": {"S": "open"}})
    with pytest.raises(DynamoError, match="attribute value: :w"):
        env.use(ex.parse_condition("#s = :w"))
    env.use(ex.parse_condition("#s = :v"))
    env.check_all_used()
    unused = ex.Env({"#s": "state", "#x": "x"}, {":v": {"S": "open"}})
    unused.use(ex.parse_condition("#s = :v"))
    with pytest.raises(DynamoError, match=r"unused in expressions: keys: \{#x\}"):
        unused.check_all_used()


def update(text: str, item: dict[str, Any], **values: Any) -> dict[str, Any]:
    env = ex.Env({"#s": "state"}, {f":{k}": v for k, v in values.items()})
    parsed = env.use(ex.parse_update(text))
    new, _ = updates.apply_update(parsed.tree, item, env, frozenset(("pk", "sk")))
    return new


def test_update_set_reads_the_old_item_and_leaves_it_unchanged() -> None:
    before = {"pk": {"S": "p"}, "sk": {"S": "s"}, "a": {"N": "1"}, "b": {"N": "2"}}
    after = update("SET a = b, b = a", before)
    assert after["a"] == {"N": "2"} and after["b"] == {"N": "1"}
    assert before["a"] == {"N": "1"}


def test_update_arithmetic_functions_remove_add_delete() -> None:
    item = dict(ITEM)
    new = update(
        "SET n = n + :one, created = if_not_exists(created, :now), #s = :s, "
        "entries = list_append(entries, :more), doc.nested = :s REMOVE flag, pending[0] "
        "ADD tags :z, hits :one DELETE nums :one_set",
        item,
        one={"N": "1"},
        now={"N": "5"},
        s={"S": "connected"},
        more={"L": [{"S": "b"}]},
        z={"SS": ["z"]},
        one_set={"NS": ["1"]},
    )
    assert new["n"] == {"N": "11"}
    assert new["created"] == {"N": "5"}
    assert new["state"] == {"S": "connected"}
    assert new["entries"] == {"L": [{"S": "a"}, {"N": "2"}, {"S": "b"}]}
    assert new["doc"]["M"]["nested"] == {"S": "connected"}
    assert "flag" not in new
    assert new["pending"] == {"L": [{"S": "p2"}]}
    assert sorted(new["tags"]["SS"]) == ["x", "y", "z"]
    assert new["hits"] == {"N": "1"}
    assert new["nums"] == {"NS": ["2.5"]}
    assert ITEM["doc"]["M"]["nested"] == {"S": "deep"}


def test_update_of_a_key_attribute_is_refused() -> None:
    with pytest.raises(DynamoError, match="Cannot update attribute pk"):
        update("SET pk = :v", dict(ITEM), v={"S": "other"})


def test_update_of_overlapping_paths_is_refused() -> None:
    with pytest.raises(DynamoError, match="Two document paths overlap"):
        update("SET doc.nested = :v REMOVE doc", dict(ITEM), v={"S": "x"})


def test_update_clause_twice_is_refused() -> None:
    with pytest.raises(DynamoError, match="can only be used once"):
        ex.parse_update("SET a = :v SET b = :v")


def test_projection_of_top_level_and_nested_paths() -> None:
    env = ex.Env({"#m": "doc"}, {})
    paths = env.use(ex.parse_projection("pk, #m.nested, entries[1], absent")).tree
    assert updates.project(ITEM, paths, env) == {
        "pk": {"S": "ROOM#1"},
        "doc": {"M": {"nested": {"S": "deep"}}},
        "entries": {"L": [{"N": "2"}]},
    }


def test_numbers_are_canonical_and_compare_by_value() -> None:
    assert canonical_number("1.50") == "1.5"
    assert canonical_number("-0.0") == "0"
    assert canonical_number("1e3") == "1000"
    assert canonical_number("007") == "7"
    assert equal({"N": "1"}, {"N": "1.0"})
    assert equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    item, size = check_item({"n": {"N": "10.00"}, "s": {"S": "abc"}})
    assert item == {"n": {"N": "10"}, "s": {"S": "abc"}}
    assert size > 0


@pytest.mark.parametrize(
    "item",
    [
        {"n": {"N": "ten"}},
        {"s": {"SS": []}},
        {"s": {"SS": ["a", "a"]}},
        {"x": {"S": "a", "N": "1"}},
        {"x": {"Q": "1"}},
        {"x": {"NULL": False}},
        {"big": {"S": "x" * 410_000}},
    ],
)
def test_bad_values_are_validation_errors(item: dict[str, Any]) -> None:
    with pytest.raises(DynamoError) as caught:
        check_item(item)
    assert caught.value.kind == "ValidationException"
