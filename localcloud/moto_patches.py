"""Fixes to moto that the local cloud (and the tests that use moto in-process) rely on.

moto 5's DynamoDB `transact_write_items` deep-copies every table it touches, once per
operation, to be able to roll back; its cost grows with the table size (a 10,000-item table
makes each transaction take seconds), and the rollback swaps the table object, which cuts
the stream shard that pollers are reading. This replacement checks every condition first
and writes only when all hold, as DynamoDB does, so nothing needs to be undone; it copies
only the items it touches, to undo a write that fails half-way (a malformed update).

moto's server lists its own package directory on every request to route it
(`list_of_moto_modules`); the list never changes while the process runs, so it is read once.

moto builds a stored item one attribute at a time, and each attribute re-measures the whole item
against DynamoDB's item size limit: the cost of a write grows with the square of its attributes
(nested ones included): writing 10,000 orders spent three quarters of its time there. An item is
measured once instead, against the same limit.
"""

from __future__ import annotations

import copy
from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items
    _cache_module_list()
    _measure_items_once()
    _applied = True


def _cache_module_list() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


# moto's limit (dynamo_type.LimitedSizeDict): DynamoDB's 400 KB, as moto measures an item
ITEM_SIZE_LIMIT = 405_000


def _measure_items_once() -> None:
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

    Item.__init__ = __init__


def _key_of(backend, op_type: str, op: dict) -> dict:
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
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
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
            undo.append((name, key, copy.deepcopy(self.get_item(name, key))))
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
