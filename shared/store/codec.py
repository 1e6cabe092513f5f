"""Items that carry a pydantic document: the one way a model is written to an item and read back.

Most of Kith's items keep their state as the model's JSON in one string attribute (`doc`), beside the
key and the few attributes a condition or an index needs. A codec owns that mapping for one model,
so no reader parses `item["doc"]["S"]` by hand and every writer stores the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.store import dynamo

M = TypeVar("M", bound=BaseModel)

DOC: str = "doc"


class DocCodec(Generic[M]):
    """Encodes a model into a typed item under a key, and decodes typed or plain items back."""

    def __init__(self, model: type[M], attribute: str = DOC) -> None:
        self.model = model
        self.attribute = attribute

    def encode(self, key: Mapping[str, Any], document: M, **attributes: Any) -> dict[str, Any]:
        """A typed item: the key and `attributes` (plain values, None dropped) and the document."""
        return {**dynamo.to_item({**key, **attributes}), **self.typed(document)}

    def typed(self, document: M) -> dict[str, Any]:
        """The document alone as its typed attribute, for an update that leaves the rest of the item."""
        return {self.attribute: {"S": document.model_dump_json()}}

    def decode(self, item: Mapping[str, Any]) -> M:
        """The document of a typed item (as the low-level client or a stream image gives it)."""
        return self.model.model_validate_json(item[self.attribute]["S"])

    def decode_plain(self, item: Mapping[str, Any]) -> M:
        """The document of a plain item (after dynamo.from_item)."""
        return self.model.model_validate_json(item[self.attribute])

    def decode_or(self, item: Mapping[str, Any] | None, default: M) -> M:
        return default if item is None else self.decode(item)
