"""Every place the local cloud reaches into moto's internals, in one module.

The local cloud (and tests/support) patches or reads things these libraries do not document:
private attributes, backend objects, method signatures, class attributes. Each touch point is
a named function here whose docstring says what it relies on and why we need it, and each has
a check in `CHECKS`. `assert_supported()` runs every check at local-cloud start-up (and in
tests/localcloud/test_internals.py), so an upgrade of moto that changes one of
them fails loudly in one place, naming the touch point and the pinned versions, instead of
misbehaving somewhere in a poller thread.

Documented moto features the local cloud also uses, not listed here: the server's
`/moto-api/reset` and `/moto-api/config` (`{"stepfunctions": {"execute_state_machine": true}}`),
`MOTO_PORT` for the Step Functions interpreter's own clients, and `mock_aws`.
One botocore internal is used (share_botocore_loader; the stream records are reshaped from
boto3's public output); boto3's default session is too (on_default_session).
"""

from __future__ import annotations

import ast
import collections
import contextlib
import copy
import datetime
import functools
import inspect
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from localcloud.intrinsics import ACCOUNT_ID, REGION

# The versions every touch point below was written and checked against (requirements-dev.txt;
# tests/localcloud/test_internals.py keeps the two equal).
PINNED = {"moto": "5.2.5", "Werkzeug": "3.1.9"}


class UnsupportedInternals(RuntimeError):
    """An internal of moto that the local cloud relies on is gone or changed."""


# ---------------------------------------------------------------------- patch bookkeeping
_originals: dict[tuple[type, str], Any] = {}
_patch_lock = threading.RLock()


def _patch(cls: type, name: str, replacement: Any) -> None:
    with _patch_lock:
        _originals.setdefault((cls, name), cls.__dict__.get(name, getattr(cls, name, None)))
        setattr(cls, name, replacement)


def _unpatch(cls: type, name: str) -> None:
    with _patch_lock:
        original = _originals.pop((cls, name), None)
        if original is not None:
            setattr(cls, name, original)


def _original(cls: type, name: str) -> Any:
    """The library's own attribute, even while we have replaced it."""
    with _patch_lock:
        return _originals.get((cls, name), cls.__dict__.get(name, getattr(cls, name, None)))


# ====================================================================== DynamoDB transactions
def patch_dynamodb_transactions() -> None:
    """Replace `DynamoDBBackend.transact_write_items(self, transact_items)`.

    moto 5's version deep-copies every table it touches, once per operation, to be able to
    roll back; its cost grows with the table size (a 10,000-item table makes each transaction
    take seconds), and the rollback swaps the table object, which cuts the stream shard that
    pollers are reading. The replacement checks every condition first and writes only when all
    hold, as DynamoDB does, so nothing needs to be undone; to undo a write that fails half-way (a
    malformed update) it keeps the items it replaces or deletes, and copies those it updates.

    Relies on: the backend's `get_table`, `get_item(table_name, keys)`, `put_item(table_name,
    item_attrs, expression_attribute_names=, expression_attribute_values=)`,
    `delete_item(table_name, key)`, `update_item(table_name, key, update_expression=, ...)`;
    a table's `hash_key_attr` / `range_key_attr`; `moto.dynamodb.comparisons.get_filter_expression`;
    the exceptions of `moto.dynamodb.exceptions` used below; an item's `to_json()["Attributes"]`.
    """
    from moto.dynamodb.models import DynamoDBBackend

    with _patch_lock:
        if DynamoDBBackend.__dict__.get("transact_write_items") is not _transact_write_items:
            _patch(DynamoDBBackend, "transact_write_items", _transact_write_items)


def _check_dynamodb_transactions() -> None:
    from moto.dynamodb import comparisons, exceptions
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    _method(DynamoDBBackend, "transact_write_items", "self", "transact_items", original=True)
    _method(DynamoDBBackend, "get_table", "self", "table_name")
    _method(DynamoDBBackend, "get_item", "self", "table_name", "keys")
    _method(
        DynamoDBBackend,
        "put_item",
        "self",
        "table_name",
        "item_attrs",
        keywords=("expression_attribute_names", "expression_attribute_values"),
    )
    _method(DynamoDBBackend, "delete_item", "self", "table_name", "key")
    _method(
        DynamoDBBackend,
        "update_item",
        "self",
        "table_name",
        "key",
        keywords=("update_expression", "expression_attribute_names", "expression_attribute_values"),
    )
    _set_in_init(Table, "hash_key_attr", "range_key_attr")
    _method(Item, "to_json", "self")
    _function(comparisons, "get_filter_expression", "expr", "names", "values")
    for name in (
        "ConditionalCheckFailed",
        "MockValidationException",
        "MultipleTransactionsException",
        "TooManyTransactionsException",
        "TransactionCanceledException",
        "TransactWriteSingleOpException",
    ):
        _class(exceptions, name)


def _key_of(backend: Any, op_type: str, op: dict) -> dict:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    from localcloud import limits

    if len(transact_items) > limits.DYNAMODB_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    size = limits.dynamodb_transaction_bytes(transact_items)
    if size > limits.DYNAMODB_TRANSACTION_BYTES:
        raise MockValidationException(
            f"Transaction request size {size} bytes exceeds the limit "
            f"of {limits.DYNAMODB_TRANSACTION_BYTES} bytes"
        )
    plan: list[tuple[str, dict, dict]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        key = _key_of(self, op_type, op)
        ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if ident in seen:
            raise MultipleTransactionsException()
        seen.add(ident)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            expr = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not expr.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed().message), old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    undo: list[tuple[str, dict, Any]] = []
    try:
        for op_type, op, key in plan:
            if op_type == "ConditionCheck":
                continue
            name = op["TableName"]
            before = self.get_item(name, key)
            # Put and Delete replace the stored item object and leave it as it was; Update
            # changes it in place, so only an Update needs a copy to undo
            undo.append((name, key, copy.deepcopy(before) if op_type == "Update" else before))
            if op_type == "Put":
                self.put_item(
                    name,
                    op["Item"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
            elif op_type == "Delete":
                self.delete_item(name, key)
            else:
                self.update_item(
                    name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
    except Exception:
        for name, key, before in reversed(undo):
            if before is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, before.to_json()["Attributes"])
        raise


# ====================================================================== DynamoDB condition expressions
PARSED_CONDITIONS_KEPT = 4096
# (expression, names, values as JSON) -> (moto's parsed tree, names found, values found)
_parsed_conditions: collections.OrderedDict[tuple, tuple[Any, list, list]] = collections.OrderedDict()
_parsed_conditions_lock = threading.Lock()


def cache_parsed_conditions() -> None:
    """Replace `moto.dynamodb.comparisons.ConditionExpressionParser.parse(self)` with one that
    parses each (expression, names, values) once and hands out the same parsed tree again.

    moto lexes and parses a ConditionExpression (and a FilterExpression) twice per request, once
    in the response class to check it (`create_condition_expression_parser(...).parse()`, then
    `parser.expr_attr_names_found`) and once in the backend to evaluate it
    (`get_filter_expression`): a fifth of a TransactWriteItems' time in moto, for conditions
    such as `attribute_not_exists(pk)` that every order's write repeats word for word. The tree
    (moto's `Op`/`Func` nodes) holds the expression's attribute values as `DynamoType`s and is
    only evaluated afterwards (`expr(item)`, which reads the item and sets nothing), so one tree
    answers every request with the same expression, names and values alike; a parser given a
    kept tree also gets the names and values the parse found (`expr_attr_names_found`,
    `expr_attr_values_found`), which is all `parse` sets on it. The key is the expression with
    its names and its values as JSON, so another value is another entry; an expression moto
    refuses is not kept (its error is raised again at every request). The last
    `PARSED_CONDITIONS_KEPT` are kept. Same answers, the same refusals, asserted against moto's
    own parser in tests/localcloud/test_internals.py.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = _original(ConditionExpressionParser, "parse")

    @functools.wraps(original)
    def parse(self):
        if not self.condition_expression:  # no expression: nothing to parse
            return original(self)
        names, values = self.expression_attribute_names, self.expression_attribute_values
        try:
            key = (
                self.condition_expression,
                None if names is None else tuple(sorted(names.items())),
                None if values is None else json.dumps(values, sort_keys=True),
            )
            hash(key)
        except (TypeError, ValueError, AttributeError):  # not JSON as DynamoDB's API sends it
            return original(self)
        with _parsed_conditions_lock:
            kept = _parsed_conditions.get(key)
            if kept is not None:
                _parsed_conditions.move_to_end(key)
        if kept is None:
            names_before, values_before = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
            tree = original(self)
            kept = (
                tree,
                self.expr_attr_names_found[names_before:],
                self.expr_attr_values_found[values_before:],
            )
            with _parsed_conditions_lock:
                _parsed_conditions[key] = kept
                while len(_parsed_conditions) > PARSED_CONDITIONS_KEPT:
                    _parsed_conditions.popitem(last=False)
            return tree
        self.expr_attr_names_found.extend(kept[1])
        self.expr_attr_values_found.extend(kept[2])
        return kept[0]

    with _patch_lock:
        if (ConditionExpressionParser, "parse") not in _originals:
            _patch(ConditionExpressionParser, "parse", parse)


def _check_parsed_conditions() -> None:
    from moto.dynamodb import comparisons
    from moto.dynamodb.comparisons import ConditionExpressionParser

    _method(
        ConditionExpressionParser,
        "__init__",
        "self",
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
    )
    _method(ConditionExpressionParser, "parse", "self", original=True)
    _set_in_init(
        ConditionExpressionParser,
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
        "expr_attr_names_found",
        "expr_attr_values_found",
    )
    assigned = {
        node.attr
        for node in ast.walk(ast.parse(inspect.getsource(ConditionExpressionParser)))
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }
    if assigned != {
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
        "expr_attr_names_found",
        "expr_attr_values_found",
    }:
        raise _Changed(f"ConditionExpressionParser now keeps {', '.join(sorted(assigned))}")
    parse = inspect.getsource(_original(ConditionExpressionParser, "parse"))
    for found in ("self.expr_attr_names_found.extend(", "self.expr_attr_values_found.extend("):
        if found not in parse:
            raise _Changed(f"ConditionExpressionParser.parse no longer does {found}")
    if "ConditionExpressionParser(expr, names, values)" not in inspect.getsource(comparisons):
        raise _Changed("moto no longer makes a ConditionExpressionParser of (expr, names, values)")


# ====================================================================== DynamoDB item size
# moto's limit (dynamo_type.LimitedSizeDict): DynamoDB's 400 KB, as moto measures an item
ITEM_SIZE_LIMIT = 405_000


def measure_items_once() -> None:
    """Replace `moto.dynamodb.models.dynamo_type.Item.__init__` with one that measures an item
    once against the item size limit.

    moto builds a stored item one attribute at a time into a `LimitedSizeDict`, and each
    attribute re-measures the whole item, so the cost of a write grows with the square of its
    attributes (nested ones included): writing 10,000 orders spent three quarters of its time
    there. Relies on `Item.__init__(self, hash_key, range_key, attrs)` setting `hash_key`,
    `range_key` and `attrs` (a `LimitedSizeDict` of `DynamoType`), on `Item.size()`, and on
    `ItemSizeTooLarge`. The same limit holds; an item over it is refused as before.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def __init__(self, hash_key, range_key, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        for key, value in attrs.items():
            dict.__setitem__(self.attrs, key, DynamoType(value))
        if self.size() > ITEM_SIZE_LIMIT:  # the sum moto checks as the last attribute is added
            raise ItemSizeTooLarge

    with _patch_lock:
        if (Item, "__init__") not in _originals:
            _patch(Item, "__init__", __init__)


def _check_item_size() -> None:
    from moto.dynamodb import exceptions
    from moto.dynamodb.models import dynamo_type

    item = _class(dynamo_type, "Item")
    _class(dynamo_type, "DynamoType")
    _class(dynamo_type, "LimitedSizeDict")
    _class(exceptions, "ItemSizeTooLarge")
    _method(item, "__init__", "self", "hash_key", "range_key", "attrs", original=True)
    _method(item, "size", "self")
    assigned = _original(item, "__init__").__code__.co_names
    missing = [a for a in ("hash_key", "range_key", "attrs") if a not in assigned]
    if missing:
        raise _Changed(f"Item.__init__ no longer sets {', '.join(missing)}")


def project_top_level_once() -> None:
    """Replace `moto.dynamodb.models.dynamo_type.Item.project(self, projection_expressions)` with
    one that converts the item to plain values once when every expression names one top-level
    attribute.

    moto's `Item.project` converts the whole item (`to_regular_json`) once per expression, and
    projects an index's item with one expression per attribute it keeps: a Query of an index
    that projects INCLUDE attributes (the order lists' 16) converted each item 16 times, most of
    a list read. When every expression is a list of one name without a list index (`[["status"],
    ["tags"]]`, as `SecondaryIndex.project` and a top-level ProjectionExpression ask), the item
    is converted once and each name present is taken from it: the same Item, since
    `find_nested_key([name], plain)` answers `{name: plain[name]}` when present and `{}`
    otherwise, and `merge_dicts` of those sets each name (a repeated one to an equal value).
    Relies on `Item(hash_key=, range_key=, attrs=)`, `to_regular_json()` and the module's
    `serializer` building the answer, as moto's own does. Any other expression (a nested path,
    a list element) runs moto's own."""
    from moto.dynamodb.models import dynamo_type

    item_cls = dynamo_type.Item
    original = _original(item_cls, "project")

    @functools.wraps(original)
    def project(self, projection_expressions):
        names = []
        for expr in projection_expressions:
            if len(expr) != 1 or "[" in expr[0]:
                return original(self, projection_expressions)
            names.append(expr[0])
        plain = self.to_regular_json()
        result = {name: plain[name] for name in names if name in plain}
        return item_cls(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=dynamo_type.serializer.serialize(result)["M"],
        )

    with _patch_lock:
        if (item_cls, "project") not in _originals:
            _patch(item_cls, "project", project)


def _check_item_project() -> None:
    from moto.dynamodb.models import dynamo_type, utilities

    item = _class(dynamo_type, "Item")
    _method(item, "project", "self", "projection_expressions", original=True)
    _method(item, "to_regular_json", "self")
    if not hasattr(getattr(dynamo_type, "serializer", None), "serialize"):
        raise _Changed("moto.dynamodb.models.dynamo_type.serializer is gone")
    _function(utilities, "find_nested_key", "keys", "dct", "processed_keys", "result")
    used = _original(item, "project").__code__.co_names
    missing = [
        n for n in ("find_nested_key", "to_regular_json", "merge_dicts", "serializer") if n not in used
    ]
    if missing:
        raise _Changed(f"Item.project no longer uses {', '.join(missing)}")


# ====================================================================== moto's server
_module_list_cached = False


# ====================================================================== DynamoDB responses
def serialize_attribute_values_directly() -> None:
    """Replace `moto.core.serialize.BaseJSONSerializer._serialize_type_structure` with one that
    writes a DynamoDB (or DynamoDB Streams) `AttributeValue` straight to its JSON form, and hands
    every other shape to moto's own method (other services have shapes of that name with other
    members: Pricing's `Value`, AppConfig's `StringValue`...).

    moto 5 serializes a response by walking the operation's output shape; for each attribute
    value it asks its attribute picker for each of the ten members (S, N, B, ...), so a Query
    answer of 100 orders spent most of its time there (a fifth of a CSV job's CPU). The JSON is
    the same: `B`/`BS` as base64, `M`/`L` recursively, the rest as they are (the equivalence is
    asserted against moto's own method in tests/localcloud/test_internals.py). Relies on
    `_serialize_type_structure(self, serialized, value, shape, key)`, `_default_serialize` and
    `_base64` and `operation_model` of the serializer, and on DynamoDB results reaching it as
    moto's `dynamo_to_dict` leaves them (one-key dicts, `B` as bytes).
    """
    from moto.core.serialize import BaseJSONSerializer

    original = _original(BaseJSONSerializer, "_serialize_type_structure")

    def _serialize_type_structure(self, serialized, value, shape, key):
        if (
            key
            and shape.name == "AttributeValue"
            and isinstance(value, dict)
            and self.operation_model.service_model.service_name in _DYNAMODB_SERVICES
        ):
            self._default_serialize(serialized, _attribute_value(self, value), shape, key)
        else:
            original(self, serialized, value, shape, key)

    with _patch_lock:
        if (BaseJSONSerializer, "_serialize_type_structure") not in _originals:
            _patch(BaseJSONSerializer, "_serialize_type_structure", _serialize_type_structure)


_DYNAMODB_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
_ATTRIBUTE_TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")  # the shape's members


def _attribute_value(serializer: Any, value: dict) -> dict:
    out: dict[str, Any] = {}
    for kind, v in value.items():
        if v is None or kind not in _ATTRIBUTE_TYPES:  # as moto's walk of the shape skips them
            continue
        if kind in ("S", "N"):
            out[kind] = v if isinstance(v, str) else str(v)
        elif kind == "B":
            out[kind] = serializer._base64(v)
        elif kind in ("SS", "NS"):
            out[kind] = [x if isinstance(x, str) else str(x) for x in v]
        elif kind == "BS":
            out[kind] = [serializer._base64(x) for x in v]
        elif kind == "M":
            out[kind] = {k: _attribute_value(serializer, x) for k, x in v.items()}
        elif kind == "L":
            out[kind] = [_attribute_value(serializer, x) for x in v]
        else:
            out[kind] = v
    return out


def _check_attribute_values() -> None:
    from moto.core import serialize
    from moto.dynamodb.models import utilities

    json_serializer = _class(serialize, "BaseJSONSerializer")
    _method(
        json_serializer,
        "_serialize_type_structure",
        "self",
        "serialized",
        "value",
        "shape",
        "key",
        original=True,
    )
    _method(json_serializer, "_default_serialize", "self", "serialized", "value", "shape", "key")
    _method(json_serializer, "_base64", "self", "value")
    _function(utilities, "dynamo_to_dict", "obj")
    from botocore.session import get_session

    for service in sorted(_DYNAMODB_SERVICES):
        members = get_session().get_service_model(service).shape_for("AttributeValue").members
        if tuple(members) != _ATTRIBUTE_TYPES:
            raise _Changed(f"{service}'s AttributeValue has the members {', '.join(members)}")


def sort_items_by_value() -> None:
    """Replace `moto.dynamodb.models.table.Table.all_items(self)` with one that sorts by the
    keys' values computed once per item.

    moto's Query of a base table (and of an index) starts from `all_items()`, every item of the
    table sorted by (hash key, range key) with `DynamoType.__lt__`, which recomputes each key's
    `cast_value` at every comparison: with a few thousand items each Query took about a second.
    A key's value is read as `cast_value` gives it (the string of an S, the Decimal of an N),
    without its chain of type checks: 10,000 items are listed in 10-30 ms instead of 55 when
    they were written in key order, and instead of 350 when they were not. The order is the
    same (`__lt__` compares `cast_value`); the equivalence is asserted in
    tests/localcloud/test_internals.py. Relies on `Table.items` (hash key -> item, or -> {range
    key -> item} when the table has `range_key_attr`) and on the items' `hash_key`/`range_key`.
    """
    from moto.dynamodb.models.table import Table

    def all_items(self):
        items = _partition_items(self)  # a Query's one partition (query_one_[index_]partition)
        if items is None and self.range_key_attr:
            items = [item for hash_set in self.items.values() for item in hash_set.values()]
        elif items is None:
            items = list(self.items.values())

        def order(item):
            if item.range_key:
                return (_key_value(item.hash_key), _key_value(item.range_key))
            return _key_value(item.hash_key)

        return sorted(items, key=order)

    with _patch_lock:
        if (Table, "all_items") not in _originals:
            _patch(Table, "all_items", all_items)


# The partition a Query is reading, for all_items() to list alone: a base-table Query's hash key
# (query_one_partition) or an index Query's (attribute, value) (query_one_index_partition).
_query_partition = threading.local()
# Which of the two touch points are on ("table", "index"); both wrap Table.query (one wrapper).
_partitions_read: set[str] = set()


def query_one_partition() -> None:
    """Wrap `moto.dynamodb.models.table.Table.query(self, hash_key, range_comparison, range_objs,
    limit, exclusive_start_key, scan_index_forward, projection_expressions, index_name=None, ...)`
    so that a Query of the base table (no `index_name`) lists the items of its partition only.

    moto's Query of a base table takes every item of the table (`all_items()`, sorted) and keeps
    those whose hash key is the one asked: a Query of one partition cost as much as reading the
    whole table, a few milliseconds per thousand items, and a consumer that Queries a small
    partition often (the counters' fold, once per stream batch) spent most of the local cloud's
    time there once a table held a few thousand orders. DynamoDB reads the partition alone. Here
    the Query runs moto's own code, with `all_items()` (sort_items_by_value) answering, for that
    one call, the items of `Table.items[hash_key]` (moto's partition map: hash key -> item, or ->
    {range key -> item}) in the same order; results, paging and filters are moto's. Index Queries
    are query_one_index_partition's. The equivalence is asserted in
    tests/localcloud/test_internals.py."""
    _read_partitions("table")


def query_one_index_partition() -> None:
    """Wrap `moto.dynamodb.models.table.Table.query(..., index_name=None, consistent_read=False,
    filter_expression=None, hash_key_conditions=None, ...)` (the same wrapper as
    query_one_partition's) so that a Query of an index lists only the items whose index hash key
    is the one asked, and replace `Table.sorted_items` with a sort on values computed once.

    moto's Query of an index takes every item of the table (`all_items()`, sorted by the table's
    key) and keeps those whose attributes match every `hash_key_conditions` entry (attribute
    name -> DynamoType; an item without the attribute is not in the index), then sorts those by
    the index's key. orderhub reads sharded index keys (up to 9 Queries per list read), so a list
    screen, a sweep or a CSV export cost a few sorts of the whole table per read. DynamoDB reads
    the index partition alone. Here, for that one call, `all_items()` (sort_items_by_value)
    answers only the items of `Table.items` whose attribute equals the value asked for one of
    the Query's hash conditions (moto's own test: present, and `DynamoType.__eq__`; an S value
    is compared as its string, which is its `cast_value`), in the order it would list them among
    all the others; moto's own code then checks every condition again, pages, filters and
    projects as before, so the answer is moto's. Nothing is kept between Queries: each reads the
    table as it is (DynamoDB requests are served one at a time, cloud.serialize_data_requests),
    so a write is seen by the next Query. (Finding the partition costs about 3 ms per Query of
    a 7,500-item table, a tenth of the Query; an index kept per table would save that much only
    between two writes, and would have to see every write, updates in place included.)

    The partition is then sorted by `Table.sorted_items(self, hash_key_attrs, range_key_attrs,
    items)`, which compares tuples of DynamoTypes (`__eq__`, then `__lt__`, each recomputing
    `cast_value`): two thirds of a Query of a 500-item partition. It is replaced (for index
    Scans too, which sort the same way) by a sort on the values computed once per item, as
    sort_items_by_value does: the same order when each sorted attribute has one type across the
    items (a key attribute has its one declared type), since DynamoTypes of one type are equal
    and ordered as their `cast_value`s; otherwise moto's own sort runs. The attributes are
    moto's (`Table._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)`), the sort is
    in place and stable, as moto's. The equivalence is asserted in
    tests/localcloud/test_index_query.py."""
    _read_partitions("index")
    from moto.dynamodb.models.table import Table

    original = _original(Table, "sorted_items")

    @functools.wraps(original)
    def sorted_items(self, hash_key_attrs, range_key_attrs, items):
        if "index" not in _partitions_read:
            return original(self, hash_key_attrs, range_key_attrs, items)
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        keys = []
        types = None
        for item in items:
            values = [item.attrs[attr] for attr in attrs]  # a KeyError as moto's own
            kinds = [v.type for v in values]
            if types is None:
                types = kinds
            elif kinds != types:  # not one type per attribute: moto's comparisons decide
                return original(self, hash_key_attrs, range_key_attrs, items)
            keys.append(tuple(_key_value(v) for v in values))
        order = sorted(range(len(items)), key=keys.__getitem__)  # stable, as list.sort
        items[:] = [items[i] for i in order]
        return items

    with _patch_lock:
        if (Table, "sorted_items") not in _originals:
            _patch(Table, "sorted_items", sorted_items)


# Table.query's positional parameters after hash_key (checked by _check_query_one_index_partition)
_QUERY_INDEX_NAME, _QUERY_HASH_KEY_CONDITIONS = 6, 9


def _read_partitions(kind: str) -> None:
    from moto.dynamodb.models.table import Table

    original = _original(Table, "query")

    @functools.wraps(original)
    def query(self, hash_key, *args, **kwargs):
        index_name = args[_QUERY_INDEX_NAME] if len(args) > _QUERY_INDEX_NAME else kwargs.get("index_name")
        if index_name is None:
            if hash_key is None or "table" not in _partitions_read:
                return original(self, hash_key, *args, **kwargs)
            _query_partition.key = hash_key
        else:
            if len(args) > _QUERY_HASH_KEY_CONDITIONS:
                conditions = args[_QUERY_HASH_KEY_CONDITIONS]
            else:
                conditions = kwargs.get("hash_key_conditions")
            if not conditions or "index" not in _partitions_read:
                return original(self, hash_key, *args, **kwargs)
            # as moto reads them: attribute -> value, a later condition on the same one winning
            _query_partition.index = next(iter(dict(conditions).items()))
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            _query_partition.key = _query_partition.index = None

    with _patch_lock:
        _partitions_read.add(kind)
        if (Table, "query") not in _originals:
            _patch(Table, "query", query)


def _partition_items(table: Any) -> list | None:
    """The items of the partition a Query is reading (None: list the whole table)."""
    key = getattr(_query_partition, "key", None)
    index = getattr(_query_partition, "index", None)
    if key is None and index is None:
        return None
    _query_partition.key = _query_partition.index = None  # the Query's one listing
    if index is not None:
        return _index_partition_items(table, *index)
    bucket = table.items.get(key)
    if bucket is None:
        return []
    return list(bucket.values()) if table.range_key_attr else [bucket]


def _index_partition_items(table: Any, name: str, value: Any) -> list:
    """The items whose attribute `name` equals `value` as moto's index Query compares them
    (`not item_value or item_value != value` leaves an item out), in no particular order."""
    items: Iterable = table.items.values()
    if table.range_key_attr:  # hash key -> {range key -> item}
        items = itertools.chain.from_iterable(map(dict.values, items))
    kind = value.type
    if kind == "S":  # an S's cast_value is its string: compared without the chain of type checks
        text = value.value
        return [item for item in items if (v := item.attrs.get(name)) and v.value == text and v.type == "S"]
    return [item for item in items if (v := item.attrs.get(name)) and v.type == kind and v == value]


def _check_query_one_partition() -> None:
    from moto.dynamodb.models.table import Table

    _method(
        Table,
        "query",
        "self",
        "hash_key",
        "range_comparison",
        "range_objs",
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
        original=True,
    )
    source = inspect.getsource(_original(Table, "query"))
    if "for item in self.all_items()" not in source or "item.hash_key == hash_key" not in source:
        raise _Changed("Table.query no longer finds a base-table partition in all_items()")
    _check_all_items()


def _check_query_one_index_partition() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    positions = list(inspect.signature(_original(Table, "query")).parameters)[2:]  # after hash_key
    for position, name in (
        (_QUERY_INDEX_NAME, "index_name"),
        (_QUERY_HASH_KEY_CONDITIONS, "hash_key_conditions"),
    ):
        if len(positions) <= position or positions[position] != name:
            raise _Changed(f"Table.query's parameter {position + 3} is no longer {name}")
    source = inspect.getsource(_original(Table, "query"))
    _source_has(
        source,
        (
            "for attr_name, value in hash_key_conditions:",
            "all_hash_conditions[attr_name] = value",
            "item_value = item.attrs.get(attr_name)",
            "if not item_value or item_value != expected_value:",
        ),
        "Table.query no longer finds an index partition with {!r}",
    )
    if source.count("self.all_items()") != 2:  # one listing per Query, in either branch
        raise _Changed("Table.query no longer lists all_items() once per Query")
    if "self.items = defaultdict(dict)" not in inspect.getsource(Table.__init__):
        raise _Changed("Table.items is no longer a dict of dicts (hash key -> {range key -> item})")
    _method(Table, "sorted_items", "self", "hash_key_attrs", "range_key_attrs", "items", original=True)
    _method(Table, "_generate_attr_to_sort_by", "self", "hash_key_attrs", "range_key_attrs")
    _source_has(
        inspect.getsource(_original(Table, "sorted_items")),
        (
            "attrs_to_sort_by = self._generate_attr_to_sort_by(",
            "items.sort(",
            "tuple([x.attrs[key] for key in attrs_to_sort_by])",
            "return items",
        ),
        "Table.sorted_items no longer sorts in place with {!r}",
    )
    for method, compares in (
        (DynamoType.__eq__, "self.type == other.type and self.cast_value == other.cast_value"),
        (DynamoType.__ne__, "self.type != other.type or self.cast_value != other.cast_value"),
    ):
        if compares not in inspect.getsource(method):
            raise _Changed(f"DynamoType.{method.__name__} no longer does {compares}")
    _check_query_one_partition()  # the same wrapper, and all_items and __lt__ as sort_items_by_value


def _key_value(key: Any) -> Any:
    """A key attribute's `cast_value` (a key is S, N or B), without its chain of type checks."""
    if key.type == "S":
        return key.value
    if key.type == "N":
        return Decimal(key.value)
    return key.cast_value


def _check_all_items() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    _method(Table, "all_items", "self", original=True)
    _set_in_init(Table, "items", "range_key_attr")
    _method(DynamoType, "__lt__", "self", "other")
    source = inspect.getsource(_original(Table, "all_items"))
    if "sorted(" not in source or "x.hash_key, x.range_key" not in source:
        raise _Changed("Table.all_items no longer sorts its items by (hash_key, range_key)")
    if "self.cast_value < other.cast_value" not in inspect.getsource(DynamoType.__lt__):
        raise _Changed("DynamoType.__lt__ no longer compares cast_value")
    for attr, expected in (({"S": "a"}, "a"), ({"N": "-1.50"}, Decimal("-1.50"))):
        if DynamoType(attr).cast_value != expected or type(DynamoType(attr).cast_value) is not type(expected):
            raise _Changed(f"DynamoType({attr}).cast_value is no longer {expected!r}")


# ====================================================================== SQS queues
def read_queue_clock_once() -> None:
    """Replace moto's SQS `Queue.messages` and its three `approximate_number_of_messages*`
    properties with ones that read the clock once per call, and
    `SQSBackend.is_message_valid_based_on_retention_period(self, queue_name, message)` with one
    that reads the queue's `message_retention_period` alone.

    moto asks each message of a queue `visible` and `delayed`, and each asks the clock (a
    datetime made and subtracted from another): one receive of a queue holding 1,000 messages
    read it 2,000 times. Worse, for every message it hands out, the retention check builds the
    queue's whole attribute dict three times (each counting the messages three ways), so a
    receive cost grew with the square of the backlog: a 1,000-webhook flood spent a third of
    its CPU there. The same messages are counted and handed out, and a message is still
    dropped past its retention period; only the instant each message is compared with is now
    the same for the whole queue. Relies on `Queue._messages` (the list of messages), a
    message's `visible_at` / `delayed_until` (epoch milliseconds; visible when now is past
    `visible_at`, delayed while now is before `delayed_until`), `sent_timestamp` (epoch ms),
    `Queue.message_retention_period` (seconds, the attribute `MessageRetentionPeriod`), and on
    `moto.sqs.models.unix_time` / `unix_time_millis`.
    """
    from moto.sqs import models

    def messages(self) -> list:
        now = models.unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def approximate_number_of_messages(self) -> int:
        return len(self.messages)

    def approximate_number_of_messages_not_visible(self) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def approximate_number_of_messages_delayed(self) -> int:
        now = models.unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def is_message_valid_based_on_retention_period(self, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > models.unix_time()

    with _patch_lock:
        if (models.Queue, "messages") in _originals:
            return
        _patch(models.Queue, "messages", property(messages))
        _patch(models.Queue, "approximate_number_of_messages", property(approximate_number_of_messages))
        _patch(
            models.Queue,
            "approximate_number_of_messages_not_visible",
            property(approximate_number_of_messages_not_visible),
        )
        _patch(
            models.Queue,
            "approximate_number_of_messages_delayed",
            property(approximate_number_of_messages_delayed),
        )
        _patch(
            models.SQSBackend,
            "is_message_valid_based_on_retention_period",
            is_message_valid_based_on_retention_period,
        )


_QUEUE_PROPERTIES = {
    "messages": "if message.visible and not message.delayed",
    "approximate_number_of_messages": "len(self.messages)",
    "approximate_number_of_messages_not_visible": "if not m.visible",
    "approximate_number_of_messages_delayed": "if m.delayed",
}


def _check_queue_clock() -> None:
    from moto.sqs import models

    queue = _class(models, "Queue")
    message = _class(models, "Message")
    backend = _class(models, "SQSBackend")
    _function(models, "unix_time")
    _function(models, "unix_time_millis")
    for name, expected in _QUEUE_PROPERTIES.items():
        prop = _original(queue, name)
        if not isinstance(prop, property) or expected not in inspect.getsource(prop.fget):
            raise _Changed(f"Queue.{name} no longer reads {expected!r}")
    _set_in_init(queue, "_messages")
    if "MessageRetentionPeriod" not in queue.BASE_ATTRIBUTES or "camelcase_to_underscores(attribute)" not in (
        inspect.getsource(_original(queue, "attributes").fget)
    ):
        raise _Changed("Queue.attributes no longer reads MessageRetentionPeriod as message_retention_period")
    _set_in_init(message, "visible_at", "delayed_until", "sent_timestamp")
    if "current_time > self.visible_at" not in inspect.getsource(message.visible.fget):
        raise _Changed("Message.visible no longer compares the time with visible_at")
    if "current_time < self.delayed_until" not in inspect.getsource(message.delayed.fget):
        raise _Changed("Message.delayed no longer compares the time with delayed_until")
    _method(
        backend, "is_message_valid_based_on_retention_period", "self", "queue_name", "message", original=True
    )
    source = inspect.getsource(_original(backend, "is_message_valid_based_on_retention_period"))
    if '"MessageRetentionPeriod"' not in source or "message.sent_timestamp / 1000" not in source:
        raise _Changed("SQSBackend.is_message_valid_based_on_retention_period reads something else")


def cache_moto_module_list() -> None:
    """Replace `moto.backends.list_of_moto_modules()` with its first answer.

    moto's server lists its own package directory on every request to route it; the list never
    changes while the process runs, so it is read once. Relies on the server calling that
    module-level function through `moto.backends` at request time.
    """
    global _module_list_cached
    from moto import backends

    with _patch_lock:
        if _module_list_cached:
            return
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
        _module_list_cached = True


def _check_moto_module_list() -> None:
    from moto import backends

    _function(backends, "list_of_moto_modules")


_method_names_cached = False


def cache_method_names() -> None:
    """Replace `moto.core.responses.method_names_from_class(clazz)` with one that remembers each
    class's answer.

    moto's `BaseResponse.call_action` lists the response class's methods (`inspect.getmembers`)
    on every request to find the action's handler: 2% of a CSV job's CPU. A class's methods do
    not change while the process runs. Relies on `call_action` calling that name through
    `moto.core.responses` at request time.
    """
    global _method_names_cached
    from moto.core import responses

    with _patch_lock:
        if _method_names_cached:
            return
        names = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
        responses.method_names_from_class = lambda clazz: list(names(clazz))
        _method_names_cached = True


def _check_method_names() -> None:
    from moto.core import responses

    _function(responses, "method_names_from_class", "clazz")


# ====================================================================== start-up costs
_loader_shared = False


def share_botocore_loader() -> None:
    """Give every botocore session of this process one data loader.

    moto's `mock_aws` drops boto3's default session when it starts and stops, and each new
    session gets a loader of its own, which parses the service models and endpoints.json again
    (half a second of JSON for the six services of one moto app). The loader holds nothing
    but what it read from botocore's data files, so one per search path serves every session.

    Relies on `botocore.session.Session._register_data_loader` calling the module-level
    `botocore.session.create_loader(search_path_string)`.
    """
    global _loader_shared
    import functools

    from botocore import session

    with _patch_lock:
        if _loader_shared:
            return
        session.create_loader = functools.cache(session.create_loader)
        _loader_shared = True


def _check_botocore_loader() -> None:
    from botocore import session

    fn = getattr(session.create_loader, "__wrapped__", session.create_loader)
    _params("botocore.session.create_loader", fn, ("search_path_string",), ())
    if "create_loader" not in _names_used(session.Session._register_data_loader):
        raise _Changed("botocore.session.Session._register_data_loader no longer calls create_loader")


_kms_keys_lazy = False


class _KeyPairWhenUsed:
    """What moto's Key keeps as `private_key`, made on first use. moto makes an RSA-2048 key
    pair for every KMS key, symmetric and HMAC keys included (0.1 s each); only Sign, Verify and
    GetPublicKey of an asymmetric key read it."""

    def __init__(self, make: Callable[[str], Any], key_spec: str):
        self._make = make
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
        return getattr(self._key, name)


def make_kms_key_pairs_when_used() -> None:
    """Make a KMS key's key pair when it is first used, not when the key is created.

    Relies on `moto.kms.models.Key.__init__` setting `self.private_key` from the module-level
    `moto.kms.models.generate_private_key(key_spec)`.
    """
    global _kms_keys_lazy
    from moto.kms import models

    with _patch_lock:
        if _kms_keys_lazy:
            return
        make = models.generate_private_key
        models.generate_private_key = lambda key_spec: _KeyPairWhenUsed(make, key_spec)
        _kms_keys_lazy = True


def _check_kms_key_pairs() -> None:
    from moto.kms import models

    if not _kms_keys_lazy:
        _function(models, "generate_private_key", "key_spec")
    if "generate_private_key" not in models.Key.__init__.__code__.co_names:
        raise _Changed("moto.kms.models.Key.__init__ no longer calls generate_private_key")
    _set_in_init(models.Key, "private_key")


def on_default_session(event: str, handler: Callable[..., Any], unique_id: str) -> Callable[[], None]:
    """Register `handler` on `event` (`before-send`, `before-call`...) of boto3's default
    session (the one `boto3.client(...)` uses, so every function's client made from now on),
    creating that session if there is none yet; returns the function that unregisters it.

    Relies on `boto3.DEFAULT_SESSION` (None until a default session exists),
    `boto3.setup_default_session()`, and the session's `events` emitter, which botocore copies
    into each client it creates. A client made before, or from a session set up later, does not
    see the handler (the local cloud resets the functions' cached clients when it starts).
    """
    import boto3

    with _patch_lock:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
    session.events.register(event, handler, unique_id=unique_id)
    return lambda: session.events.unregister(event, unique_id=unique_id)


def client_error(code: str, message: str, status: int = 400) -> tuple[Any, dict]:
    """What a `before-call` handler returns to answer a call with an AWS error instead of sending
    it: botocore raises it as the service's ClientError (`botocore.awsrequest.AWSResponse` and
    the parsed error, as botocore's own Stubber answers)."""
    import uuid

    from botocore.awsrequest import AWSResponse

    request_id = str(uuid.uuid4())
    http = AWSResponse("https://localcloud.invalid/", status, {"x-amzn-requestid": request_id}, None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id, "HTTPHeaders": {}},
    }
    return http, parsed


_CALL_PARAMS = "localcloud_call_params"


def keep_call_params() -> None:
    """Keep each call's API parameters in botocore's request context (`before-parameter-build`
    on boto3's default session, idempotent), for the `before-call` checks that judge a call by
    them (iam.py, limits.py): `before-call` itself sees only the serialized request."""
    on_default_session("before-parameter-build", _keep_params, "localcloud-call-params")


def _keep_params(params: dict, context: dict, **_: Any) -> None:
    context[_CALL_PARAMS] = params


def call_params(context: dict) -> dict:
    """The API parameters of the call whose request context this is ({} if not kept)."""
    return context.get(_CALL_PARAMS) or {}


def _check_client_error() -> None:
    from botocore.awsrequest import AWSResponse

    _method(AWSResponse, "__init__", "self", "url", "status_code", "headers", "raw")


def _check_default_session() -> None:
    import boto3
    from boto3.session import Session

    if not hasattr(boto3, "DEFAULT_SESSION"):
        raise _Changed("boto3 has no DEFAULT_SESSION")
    _function(boto3, "setup_default_session")
    if not isinstance(getattr(Session, "events", None), property):
        raise _Changed("boto3.session.Session.events is not a property")


def moto_wsgi_app() -> Any:
    """moto's own WSGI app, the one its server serves: `DomainDispatcherApplication(create_backend_app)`.

    The local cloud serves it with localcloud/moto_server.py (HTTP/1.1 keep-alive) instead of
    `ThreadedMotoServer`, whose werkzeug server closes the connection after every request.
    Relies on `moto.server.DomainDispatcherApplication` taking the backend app factory
    `moto.server.create_backend_app`, as `ThreadedMotoServer._server_entry` builds it.
    """
    from moto.server import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _check_moto_wsgi_app() -> None:
    from moto import server

    app = _class(server, "DomainDispatcherApplication")
    _method(app, "__init__", "self", "create_app")
    _method(app, "__call__", "self", "environ", "start_response")
    _function(server, "create_backend_app", "service")


# (X-Amz-Target prefix, the service the request is signed for) -> moto's response class
_WITHOUT_FLASK = {
    ("DynamoDB_20120810", "dynamodb"): ("moto.dynamodb.responses", "DynamoHandler"),
    ("AmazonSQS", "sqs"): ("moto.sqs.responses", "SQSResponse"),
}


def dispatch_without_flask(app: Callable) -> Callable:
    """A WSGI app that answers a DynamoDB or SQS request by calling moto's response class as
    moto's Flask view does, and hands every other request to `app` (moto_wsgi_app()).

    moto's server finds the service of a request from the credential scope of its signature
    (`DomainDispatcherApplication.infer_service_region_host`), builds a Flask app per service
    whose only route for these two JSON services is `/`, and its view
    (`moto.core.utils.convert_to_flask_response`) calls `<ResponseClass>.dispatch(request,
    request.raw_url, dict(request.headers))` with the request as a `BackendRequest`, turning a
    botocore `ClientError` into a 400 and the (status, headers, body) answered into a Flask
    `Response`. Around that, the dispatcher's lock, Flask's request context, routing and
    response hooks cost about a seventh of a PutItem's CPU, the caller's botocore included.
    Here a POST to `/` whose `X-Amz-Target` names DynamoDB (`DynamoDB_20120810.*`) or SQS
    (`AmazonSQS.*`), whose signature is for that same service and which has no `Origin`
    header (those keep Flask's CORS handling; without one flask-cors adds
    `Access-Control-Allow-Origin: *`, and so does this) is answered by the same call on the
    same request class (the recorder, if on, records it as the view does); anything else goes
    to `app`. moto's own code parses, checks and answers: the same status, headers and body,
    asserted against moto's app in tests/localcloud/test_internals.py. The one-at-a-time lock
    (cloud.serialize_data_requests) wraps this app as it wrapped moto's.
    """
    import importlib

    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_api import recorder
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import BackendRequest

    handlers = {
        key: getattr(importlib.import_module(module), name).dispatch
        for key, (module, name) in _WITHOUT_FLASK.items()
    }

    def wsgi(environ: dict, start_response: Callable) -> Any:
        handler = None
        if environ.get("PATH_INFO") == "/" and environ.get("REQUEST_METHOD") == "POST":
            target = environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[0]
            scope = environ.get("HTTP_AUTHORIZATION", "").split(",", 1)[0].split()
            service = scope[1].split("/")[3] if len(scope) == 2 and scope[1].count("/") == 4 else None
            handler = handlers.get((target, service))
        if handler is None or "HTTP_ORIGIN" in environ:
            return app(environ, start_response)
        request = BackendRequest(environ)
        recorder._record_request(request)
        try:
            result = handler(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = Response(response=content, status=status, headers=headers)
        if not werkzeug_app.DISABLE_GLOBAL_CORS:  # what flask-cors adds to a request with no Origin
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response(environ, start_response)

    return wsgi


def _check_dispatch_without_flask() -> None:
    import importlib

    from moto.core import utils
    from moto.moto_api import recorder
    from moto.moto_server import werkzeug_app

    _class(werkzeug_app, "BackendRequest")
    for module, name in _WITHOUT_FLASK.values():
        cls = _class(importlib.import_module(module), name)
        _method(cls, "_dispatch", "self", "request", "full_url", "headers")
        urls = importlib.import_module(module.replace(".responses", ".urls")).url_paths
        if [path for path in urls if path.startswith("{0}/") and path.rstrip("$") == "{0}/"] != [
            next(iter(urls))
        ]:
            raise _Changed(f"moto's {name} is no longer served at /")
    _source_has(
        inspect.getsource(utils.convert_to_flask_response.__call__),
        (
            "normalize_request(",
            "recorder._record_request(request)",
            "self.callback(request, request.raw_url, dict(request.headers))",
            "except ClientError as exc:",
            'result = 400, {}, exc.response["Error"]["Message"]',
            "Response(response=content, status=status, headers=headers)",
        ),
        "moto's Flask view no longer does {}",
    )
    dispatcher = inspect.getsource(werkzeug_app.DomainDispatcherApplication.infer_service_region_host)
    if not isinstance(getattr(werkzeug_app, "DISABLE_GLOBAL_CORS", None), bool):
        raise _Changed("moto.moto_server.werkzeug_app.DISABLE_GLOBAL_CORS is gone")
    if "CORS(backend_app)" not in inspect.getsource(werkzeug_app.create_backend_app):
        raise _Changed("moto's server no longer applies flask-cors to every service's app")
    if 'credential_scope = auth.split(",")[0].split()[1]' not in dispatcher:
        raise _Changed("moto's server no longer finds the service from the signature's credential scope")
    _method(type(recorder), "_record_request", "self", "request")


# ====================================================================== in-process moto
def mock_aws_active() -> bool:
    """True while code in this process runs under moto's in-process `mock_aws` (unit and
    integration tests): it shares moto's backends with us, so pollers and schedules stand still.

    Relies on `moto.core.models.botocore_stubber.enabled`, which `mock_aws` sets while active.
    """
    try:
        from moto.core.models import botocore_stubber
    except ImportError:
        return False
    return bool(getattr(botocore_stubber, "enabled", False))


def _check_mock_aws_active() -> None:
    from moto.core import models

    stubber = getattr(models, "botocore_stubber", None)
    if stubber is None:
        raise _Changed("moto.core.models has no botocore_stubber")
    if not isinstance(getattr(stubber, "enabled", None), bool):
        raise _Changed("moto.core.models.botocore_stubber has no boolean 'enabled'")


@contextlib.contextmanager
def dynamodb_one_request_at_a_time() -> Iterator[None]:
    """Serve in-process (`mock_aws`) DynamoDB requests one at a time, for tests/support.

    moto's DynamoDB backend is not safe under concurrent requests; DynamoDB applies each
    request atomically. Threads racing through the services then see what they would on AWS
    (the local cloud's server does the same: cloud.serialize_data_requests). Relies on every
    DynamoDB request going through `moto.dynamodb.responses.DynamoHandler.call_action(self)`.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    real = DynamoHandler.call_action

    def one_at_a_time(self):
        with lock:
            return real(self)

    DynamoHandler.call_action = one_at_a_time
    try:
        yield
    finally:
        DynamoHandler.call_action = real


def _check_dynamodb_handler() -> None:
    from moto.dynamodb.responses import DynamoHandler

    _method(DynamoHandler, "call_action", "self")


# ====================================================================== DynamoDB streams
def dynamodb_table(name: str, account: str = ACCOUNT_ID, region: str = REGION) -> Any:
    """moto's table object (`dynamodb_backends[account][region].get_table(name)`)."""
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region].get_table(name)


def put_items_directly(table_name: str, items: Iterable[dict]) -> int:
    """Write `items` (AttributeValue maps) into moto's table in this process, as PutItem would
    store them (the table's streams and indexes see them), without a request per item: for a
    test that needs a large table as its setting, not as what it tests. Returns the count.

    Relies on the table's `put_item(item_attrs)`.
    """
    table = dynamodb_table(table_name)
    n = 0
    for item in items:
        table.put_item(item)
        n += 1
    return n


def table_items(table_name: str) -> list[dict]:
    """Every item of moto's table in this process as an AttributeValue map (what a Scan returns,
    binary values in base64), read without a request: a test's "nothing changed" snapshot
    (tests/support/tables.py) costs a copy instead of a paged Scan through botocore and moto's
    serializer. The caller keeps writers out meanwhile (LocalCloud.table_items).

    Relies on the table's `all_items()` and an item's `to_json()["Attributes"]`.
    """
    return [item.to_json()["Attributes"] for item in dynamodb_table(table_name).all_items()]


def _check_table_items() -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    _method(Table, "all_items", "self")
    _method(Item, "to_json", "self")


def _check_put_items() -> None:
    from moto.dynamodb.models.table import Table

    _method(Table, "put_item", "self", "item_attrs")


def _check_restore_items() -> None:
    from moto.dynamodb.models.table import Table

    _method(Table, "put_item", "self", "item_attrs")
    _set_in_init(Table, "stream_shard")
    if "stream_shard" not in Table.put_item.__code__.co_names:
        raise _Changed("Table.put_item no longer appends to stream_shard")


def restore_items(table_name: str, items: Iterable[dict]) -> int:
    """Put back items (AttributeValue maps) kept from an earlier run, as DynamoDB's restore from
    a backup does: the table and its indexes have them, its stream has no record of them (the
    stream consumers handled them before the restart; they must not publish them again).
    Nothing else may write meanwhile (the local cloud calls it before it serves anything).
    Returns the count.

    Relies on the table's `put_item(item_attrs)` and on `stream_shard`, which put_item appends
    a record to when it is not None.
    """
    table = dynamodb_table(table_name)
    shard, table.stream_shard = table.stream_shard, None
    n = 0
    try:
        for item in items:
            table.put_item(item)
            n += 1
    finally:
        table.stream_shard = shard
    return n


def stream_records(
    stream_arn: str, shard_id: str, sequence: int, limit: int, *, copied: bool = True
) -> list[dict] | None:
    """The shard's records from `sequence` on, read from moto's backend in this process: the
    same records GetRecords returns, without its response serializer (which costs more than
    the rest of the local cloud when every write of a busy job becomes a stream record). None
    when the stream is not in this process's moto (then the poller uses the API).

    `copied=False` hands out moto's own record objects, for a reader that only reads them (the
    stream pollers, which turn each record into Lambda's JSON, a new structure, before anything
    else sees it): every poller of a stream reads every record, and copying them cost as much
    as the rest of reading.

    Relies on `dynamodb_backends[account][region].get_table(name).stream_shard` and the shard's
    `id`, `starting_sequence_number` and `items` (records with `to_json()`).
    """
    try:
        _, _, _, region, account, resource = stream_arn.split(":", 5)
        shard = dynamodb_table(resource.split("/")[1], account, region).stream_shard
        if shard is None or shard.id != shard_id or sequence < shard.starting_sequence_number:
            return None
        start = sequence - shard.starting_sequence_number
        records = [r.to_json() for r in shard.items[start : start + limit]]
        return [_copy_record(r) for r in records] if copied else records
    except Exception:  # noqa: BLE001 any surprise: read through the API instead
        return None


# What a stream record holds besides dicts and lists: immutable values, shared by the copy.
_IMMUTABLE = (str, int, float, bool, bytes, Decimal, type(None), datetime.datetime)


def _copy_record(value: Any) -> Any:
    """A copy of a stream record (moto's `to_json()`, which is the record moto keeps): its dicts
    and lists copied, its immutable leaves (strings, numbers, the creation time) shared, anything
    else deep-copied. What `copy.deepcopy` gives, a few times faster (asserted in
    tests/localcloud/test_internals.py)."""
    if isinstance(value, dict):
        return {k: _copy_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_record(v) for v in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _check_stream_records() -> None:
    from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
    from moto.dynamodb.models.table import StreamRecord, StreamShard, Table

    if not hasattr(type(dynamodb_backends), "__getitem__"):
        raise _Changed("moto.dynamodb.models.dynamodb_backends is not subscriptable")
    _method(DynamoDBBackend, "get_table", "self", "table_name")
    _set_in_init(Table, "stream_shard")
    _set_in_init(StreamShard, "id", "starting_sequence_number", "items")
    _method(StreamRecord, "to_json", "self")


def forget_shard_iterator(iterator: str | None) -> None:
    """moto keeps every shard iterator it ever issued; drop one we have used so an idle poller
    does not grow the server's memory. Relies on the streams backend's `shard_iterators` dict
    (iterator ARN -> iterator). Best effort: does nothing if that is not there."""
    try:
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        dynamodbstreams_backends[ACCOUNT_ID][REGION].shard_iterators.pop(iterator, None)
    except Exception:  # noqa: S110 - best effort only
        pass


def _check_shard_iterators() -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, dynamodbstreams_backends

    if not hasattr(type(dynamodbstreams_backends), "__getitem__"):
        raise _Changed("moto.dynamodbstreams.models.dynamodbstreams_backends is not subscriptable")
    _set_in_init(DynamoDBStreamsBackend, "shard_iterators")


# ====================================================================== Step Functions -> Lambda
LambdaHook = Callable[[str, Any, Any, Any], "bytes | None"]


def hook_lambda_invoke(hook: LambdaHook) -> None:
    """Let `hook(function_name, body, headers, response_headers)` answer moto's Lambda invokes.

    moto's Step Functions interpreter calls `lambda:Invoke` for a Lambda task, which lands in
    `LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)`
    (returns the payload; sets headers such as `x-amz-function-error` in `response_headers`).
    The local cloud runs the template's functions in-process instead: the hook returns the
    payload, or None to let moto answer.
    """
    from moto.awslambda.models import LambdaBackend

    original = _original(LambdaBackend, "invoke")

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any):
        payload = hook(function_name, body, headers, response_headers)
        if payload is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        return payload

    _patch(LambdaBackend, "invoke", invoke)


def unhook_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaBackend

    _unpatch(LambdaBackend, "invoke")


def _check_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaBackend

    _method(
        LambdaBackend,
        "invoke",
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
        original=True,
    )


def name_unnamed_executions(on: bool = True) -> None:
    """Give an execution started without a name a UUID, as on AWS (on=False: moto's own again).

    moto's interpreter names it "None", so the second one fails with ExecutionAlreadyExists.
    Relies on `StepFunctionsParserBackend.start_execution(self, state_machine_arn, name, ...)`.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if not on:
        _unpatch(StepFunctionsParserBackend, "start_execution")
        return
    original = _original(StepFunctionsParserBackend, "start_execution")

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any):
        import uuid

        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    _patch(StepFunctionsParserBackend, "start_execution", start_execution)


def _check_start_execution() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    _method(StepFunctionsParserBackend, "start_execution", "self", "state_machine_arn", "name", original=True)


# ====================================================================== the check
class _Changed(Exception):
    pass


# ====================================================================== KMS keys kept across restarts
def _kms_backend(account: str = ACCOUNT_ID, region: str = REGION) -> Any:
    from moto.kms.models import kms_backends

    return kms_backends[account][region]


def kms_key_material(key_id: str) -> bytes:
    """The secret material of a symmetric or HMAC key, to keep it across a restart of the local
    cloud (localcloud/state.py): what moto encrypts, decrypts and MACs with. KMS never lets
    key material out; only the local cloud reads it, from moto's backend in this process.

    Relies on `kms_backends[account][region].keys[key_id].key_material`.
    """
    return bytes(_kms_backend().keys[key_id].key_material)


def rekey_kms_key(key_id: str, kept_id: str, material: bytes) -> str:
    """Turn the key moto just made (`key_id`) into the kept one: its id, ARN and material, so
    ciphertexts (sealed secrets) and MACs (signed cursors) made before a restart still open
    and verify. Returns the key's ARN.

    Relies on `kms_backends[account][region].keys` (key id -> Key) and the Key's `id`, `arn`
    and `key_material`; a ciphertext names its key by id (moto.kms.utils).
    """
    backend = _kms_backend()
    key = backend.keys.pop(key_id)
    key.arn = key.arn[: -len(key.id)] + kept_id
    key.id = kept_id
    key.key_material = material
    backend.keys[kept_id] = key
    return key.arn


def _check_kms_keys() -> None:
    from moto.kms.models import Key, KmsBackend, kms_backends

    if not hasattr(type(kms_backends), "__getitem__"):
        raise _Changed("moto.kms.models.kms_backends is not subscriptable")
    _set_in_init(KmsBackend, "keys")
    _set_in_init(Key, "id", "arn", "key_material")
    if not Key.__init__.__code__.co_names.count("generate_key_id"):
        raise _Changed("Key.__init__ no longer makes its id with generate_key_id")
    from moto.kms import utils

    _function(utils, "decrypt", "master_keys", "ciphertext_blob", "encryption_context")


# touch point -> its check (the name is the touch point function above)
CHECKS: dict[str, Callable[[], None]] = {
    "patch_dynamodb_transactions": _check_dynamodb_transactions,
    "cache_moto_module_list": _check_moto_module_list,
    "cache_method_names": _check_method_names,
    "share_botocore_loader": _check_botocore_loader,
    "make_kms_key_pairs_when_used": _check_kms_key_pairs,
    "measure_items_once": _check_item_size,
    "project_top_level_once": _check_item_project,
    "serialize_attribute_values_directly": _check_attribute_values,
    "sort_items_by_value": _check_all_items,
    "query_one_partition": _check_query_one_partition,
    "query_one_index_partition": _check_query_one_index_partition,
    "read_queue_clock_once": _check_queue_clock,
    "moto_wsgi_app": _check_moto_wsgi_app,
    "on_default_session": _check_default_session,
    "client_error": _check_client_error,
    "mock_aws_active": _check_mock_aws_active,
    "dynamodb_one_request_at_a_time": _check_dynamodb_handler,
    "stream_records": _check_stream_records,
    "cache_parsed_conditions": _check_parsed_conditions,
    "dispatch_without_flask": _check_dispatch_without_flask,
    "put_items_directly": _check_put_items,
    "table_items": _check_table_items,
    "restore_items": _check_restore_items,
    "forget_shard_iterator": _check_shard_iterators,
    "hook_lambda_invoke": _check_lambda_invoke,
    "name_unnamed_executions": _check_start_execution,
    "kms_key_material": _check_kms_keys,
    "rekey_kms_key": _check_kms_keys,
}
_supported = False


def problems() -> list[str]:
    """One line per touch point whose internals are not as expected."""
    found = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 an ImportError or AttributeError says as much
            found.append(f"{name}: {exc}")
    return found


def installed_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for package in PINNED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def assert_supported() -> None:
    """Raise UnsupportedInternals naming every touch point whose internals changed."""
    global _supported
    if _supported:
        return
    found = problems()
    if found:
        pinned = ", ".join(f"{p}=={v}" for p, v in PINNED.items())
        installed = ", ".join(f"{p}=={v}" for p, v in installed_versions().items())
        raise UnsupportedInternals(
            "the local cloud relies on library internals that are not as expected:\n  - "
            + "\n  - ".join(found)
            + f"\nlocalcloud/internals.py was written for {pinned} (requirements-dev.txt); "
            f"installed: {installed}. Install the pinned versions or update localcloud/internals.py."
        )
    _supported = True


def patch_moto() -> None:
    """The moto patches every in-process use of moto needs (local cloud, tests, bench)."""
    patch_dynamodb_transactions()
    cache_moto_module_list()
    cache_method_names()
    share_botocore_loader()
    make_kms_key_pairs_when_used()
    measure_items_once()
    project_top_level_once()
    serialize_attribute_values_directly()
    sort_items_by_value()
    query_one_partition()
    query_one_index_partition()
    read_queue_clock_once()
    cache_parsed_conditions()


# ---------------------------------------------------------------------- shape helpers
def _source_has(source: str, needles: tuple[str, ...], complaint: str) -> None:
    """Raise _Changed(`complaint` formatted with the first of `needles` `source` lacks)."""
    for needle in needles:
        if needle not in source:
            raise _Changed(complaint.format(needle))


def _class(module: Any, name: str) -> type:
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise _Changed(f"{module.__name__}.{name} is not a class")
    return cls


def _function(module: Any, name: str, *params: str) -> None:
    fn = getattr(module, name, None)
    if not callable(fn):
        raise _Changed(f"{module.__name__}.{name} is not callable")
    _params(f"{module.__name__}.{name}", fn, params, ())


def _method(
    cls: type, name: str, *params: str, keywords: tuple[str, ...] = (), original: bool = False
) -> None:
    fn = _original(cls, name) if original else getattr(cls, name, None)
    if not callable(fn):
        raise _Changed(f"{cls.__name__}.{name} is not callable")
    _params(f"{cls.__name__}.{name}", fn, params, keywords)


def _params(label: str, fn: Callable, params: tuple[str, ...], keywords: tuple[str, ...]) -> None:
    """fn takes these parameters first, has these keywords, and needs no other argument."""
    signature = inspect.signature(fn)
    names = list(signature.parameters)
    if names[: len(params)] != list(params):
        raise _Changed(f"{label}{signature} does not start with ({', '.join(params)})")
    missing = [k for k in keywords if k not in names]
    if missing:
        raise _Changed(f"{label} has no parameter {', '.join(missing)}")
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in variadic and p.name not in params + keywords
    ]
    if required:
        raise _Changed(f"{label}{signature} also needs {', '.join(required)}")


def _names_used(fn: Callable) -> set[str]:
    """The global and attribute names a function's code reads, its nested functions' included."""
    names: set[str] = set()
    todo = [fn.__code__]
    while todo:
        code = todo.pop()
        names.update(code.co_names)
        todo.extend(c for c in code.co_consts if inspect.iscode(c))
    return names


def _set_in_init(cls: type, *attrs: str) -> None:
    """The attributes are assigned in cls.__init__ (instance attributes, so not on the class)."""
    assigned = cls.__init__.__code__.co_names
    missing = [a for a in attrs if a not in assigned]
    if missing:
        raise _Changed(f"{cls.__name__}.__init__ no longer sets {', '.join(missing)}")
