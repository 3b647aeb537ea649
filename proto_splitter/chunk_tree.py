"""A file's ChunkedMessage tree, for lookups: each ChunkedMessage with its chunked fields grouped by their first
step (field number, then list index or map key), so that the fields a path touches are found without reading the
others. Grouping reads two field tags per chunked field (thousands in milliseconds); only the paths a lookup needs
are resolved into FieldPaths (resolving costs tens of microseconds each).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.descriptor import Descriptor

from . import extensions, field_paths
from .errors import ChunkedProtoError
from .field_paths import Field, FieldPath, Index, Key
from .proto import chunk_pb2
from .splitter import merge_order_key

Subscript = Hashable  # ("i", index), ("k", map key) or None (the path goes on with a field, or ends)


@dataclass
class Family:
    """The chunked fields of one ChunkedMessage whose paths start with one field, by their second step."""

    positions: dict[Subscript, list[int]] = field(default_factory=dict)
    _indices: np.ndarray | None = None

    def indices(self) -> np.ndarray:
        """The list indices that second steps name, sorted."""
        if self._indices is None:
            found = [key[1] for key in self.positions if isinstance(key, tuple) and key[0] == "i"]
            self._indices = np.array(sorted(found), dtype=np.int64)
        return self._indices


class TreeNode:
    """One ChunkedMessage: `chunk` (its own chunk, or None) is merged into the message of type `descriptor` at
    `base` (absolute), then the nodes attached with an empty path (`empty`), then its other chunked fields.
    `position`: its place in the tree (indices into `chunked_fields` from the root's)."""

    def __init__(
        self, cm: chunk_pb2.ChunkedMessage, descriptor: Descriptor, base: FieldPath, position: tuple[int, ...] = ()
    ):
        self.cm, self.descriptor, self.base, self.position = cm, descriptor, base, position
        self.chunk: int | None = cm.chunk_index if cm.HasField("chunk_index") else None
        self._lock = threading.Lock()
        self._empty: list[TreeNode] | None = None
        self._families: dict[int, Family] = {}
        self._paths: dict[int, FieldPath] = {}
        self._children: dict[int, TreeNode] = {}

    # ---- grouping ------------------------------------------------------------------------------------------

    def _group(self) -> list[TreeNode]:
        with self._lock:
            if self._empty is not None:
                return self._empty
            empty: list[int] = []
            families: dict[int, Family] = {}
            for position, chunked_field in enumerate(self.cm.chunked_fields):
                tags = chunked_field.field_tag
                if not tags:
                    empty.append(position)
                    continue
                if extensions.is_guard_field(chunked_field):
                    continue
                first = tags[0]
                if first.WhichOneof("kind") != "field":
                    raise ChunkedProtoError("a chunked field's path does not start with a field number")
                families.setdefault(first.field, Family()).positions.setdefault(_subscript(tags), []).append(position)
            empty.sort(key=lambda position: merge_order_key(FieldPath(), self.cm.chunked_fields[position].message))
            self._families = families
            self._empty = [self._child_at(position, FieldPath()) for position in empty]
            return self._empty

    @property
    def empty(self) -> list[TreeNode]:
        """The nodes attached with an empty path, in merge order."""
        return self._group()

    def family(self, number: int) -> Family:
        """The chunked fields whose paths start with field `number` (an empty family when there are none)."""
        self._group()
        return self._families.get(number, Family())

    def numbers(self) -> list[int]:
        """The field numbers chunked-field paths start with."""
        self._group()
        return sorted(self._families)

    # ---- fields --------------------------------------------------------------------------------------------

    def path(self, position: int) -> FieldPath:
        """The path of chunked field `position`, relative to this node's message (checked against its type)."""
        found = self._paths.get(position)
        if found is None:
            found = field_paths.from_field_tags(self.cm.chunked_fields[position].field_tag, self.descriptor)
            self._paths[position] = found
        return found

    def child(self, position: int) -> TreeNode:
        """The node of chunked field `position`."""
        found = self._children.get(position)
        return found if found is not None else self._child_at(position, self.path(position))

    def _child_at(self, position: int, path: FieldPath) -> TreeNode:
        target = field_paths.target(self.descriptor, path) if path else self.descriptor
        if target is None:  # a leaf: a bytes/string value (its descriptor is its parent's, unused)
            target = self.descriptor
        node = TreeNode(self.cm.chunked_fields[position].message, target, self.base + path, (*self.position, position))
        self._children[position] = node
        return node

    def fields_along(self, path: FieldPath) -> list[tuple[FieldPath, TreeNode]]:
        """(path, node) of the chunked fields whose paths begin like `path` (the same field and, when `path` has
        one, the same list index or map key), in merge order: those that may lie on `path`, or below it."""
        if not path or not isinstance(path[0], Field):
            return []
        family = self.family(path[0].number)
        second = path[1] if len(path) > 1 else None
        if isinstance(second, Index):
            positions = family.positions.get(("i", second.value), [])
        elif isinstance(second, Key):
            positions = family.positions.get(("k", second.value), [])
        else:
            positions = [position for key, found in family.positions.items() for position in found]
        return self.ordered(positions)

    def ordered(self, positions: list[int]) -> list[tuple[FieldPath, TreeNode]]:
        """(path, node) of the given chunked fields, in merge order."""
        items = [(self.path(position), position) for position in positions]
        items.sort(key=lambda item: merge_order_key(item[0], self.cm.chunked_fields[item[1]].message))
        return [(path, self.child(position)) for path, position in items]


def _subscript(tags: Sequence[chunk_pb2.FieldIndex]) -> Subscript:
    if len(tags) < 2:
        return None
    second = tags[1]
    kind = second.WhichOneof("kind")
    if kind == "index":
        return ("i", second.index)
    if kind == "map_key":
        member = second.map_key.WhichOneof("type")
        return ("k", getattr(second.map_key, member)) if member is not None else None
    return None
