"""What the stack learned of Heymarket, in the contact state table: `heymarket_bridge.sync.ports.LearnedBehaviourPort`.

One item, keyed `#heymarket` (no phone looks like it, like the table's `#meta`): one map attribute per fact learned
(`omitted`, `custom_map`), each `{value, evidence, at}` (at: epoch ms), and, once a fact was contradicted,
`contradicted_<name>` `{value, evidence, at}`: the last contradiction, for the operator. Learning is a conditional
write (only where the stack holds no such fact, or the same value); unlearning too (only while the fact still holds
the value contradicted), so that two execution environments seeing the same contradiction unlearn it once, and one
that learned meanwhile is not undone by a stale one. Each call is one request: `GetItem` (strongly consistent, the item
is well under 4 KB: 1 read unit) or `UpdateItem` (1 write unit); no transaction.
"""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import LearnedFact

BEHAVIOUR_KEY: Final = "#heymarket"
FACTS: Final = ("omitted", "custom_map")


class DynamoDbLearnedBehaviour:
    """The stack's learned facts in the contact state table (`table_name`). Counts its reads and writes (items)."""

    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self.items_read = 0
        self.items_written = 0

    def read(self) -> dict[str, LearnedFact]:
        try:
            answer = self._dynamodb.get_item(
                TableName=self._table, Key={"phone": {"S": BEHAVIOUR_KEY}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise StateUnavailable(_why(exc)) from exc
        self.items_read += 1
        item = answer.get("Item") or {}
        return {name: fact for name in FACTS if (fact := _fact(name, item.get(name))) is not None}

    def learn(self, fact: LearnedFact) -> LearnedFact | None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"phone": {"S": BEHAVIOUR_KEY}},
                UpdateExpression="SET #fact = :fact",
                ConditionExpression="attribute_not_exists(#fact) OR #fact.#value = :value",
                ExpressionAttributeNames={"#fact": fact.name, "#value": "value"},
                ExpressionAttributeValues={
                    ":fact": _attribute(fact.value, fact.evidence, fact.learned_ms),
                    ":value": {"S": fact.value},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                found: Any = exc.response.get("Item") or {}  # the item as the condition saw it (ALL_OLD)
                held = _fact(fact.name, found.get(fact.name))
                return held or self.read().get(fact.name)
            raise StateUnavailable(_why(exc)) from exc
        except BotoCoreError as exc:
            raise StateUnavailable(_why(exc)) from exc
        self.items_written += 1
        return None

    def unlearn(self, name: str, value: str, evidence: str, at_ms: int) -> bool:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"phone": {"S": BEHAVIOUR_KEY}},
                UpdateExpression="SET #contradicted = :contradiction REMOVE #fact",
                ConditionExpression="#fact.#value = :value",
                ExpressionAttributeNames={"#fact": name, "#value": "value", "#contradicted": f"contradicted_{name}"},
                ExpressionAttributeValues={
                    ":contradiction": _attribute(value, evidence, at_ms),
                    ":value": {"S": value},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise StateUnavailable(_why(exc)) from exc
        except BotoCoreError as exc:
            raise StateUnavailable(_why(exc)) from exc
        self.items_written += 1
        return True


def _attribute(value: str, evidence: str, at_ms: int) -> dict[str, Any]:
    return {"M": {"value": {"S": value}, "evidence": {"S": evidence}, "at": {"N": str(at_ms)}}}


def _fact(name: str, attribute: Any) -> LearnedFact | None:
    """A fact's map attribute as the fact; None when absent or unreadable (then it is learned again)."""
    if not isinstance(attribute, dict):
        return None
    fields = attribute.get("M") or {}
    value = (fields.get("value") or {}).get("S")
    if not isinstance(value, str):
        return None
    try:
        at_ms = int((fields.get("at") or {}).get("N", "0"))
    except ValueError:
        at_ms = 0
    return LearnedFact(name, value, str((fields.get("evidence") or {}).get("S", "")), at_ms)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return _code(exc) or type(exc).__name__
    return type(exc).__name__
