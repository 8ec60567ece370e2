"""The prefix tree that :class:`~curricle.probes.lm.ProbeLM` lays a scoring call out as.

Every question put to the model is a token sequence (a *path*) and the positions of it whose
next-token prediction is read (a :class:`Request`). :func:`layout_rows` lays the paths of a
call out as a prefix tree, so a token that several paths share at the same depth runs once:
the prompt that all choices of an item continue, the instruction that many items begin with,
the first tokens that choices have in common. Rows are cut from a depth-first walk of the tree,
several pieces to a row, so rows are nearly full. A token's position id is its depth
(``Row.pos``), and it sees exactly its ancestors (``Row.end``: where its descendants end), so
the model computes at it what it would at that position of its own path.

Plain numpy: the model, the attention mask and the batching are :mod:`curricle.probes.lm`'s.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class Request:
    """A path and what to read from it: ``reads[k] = (i, target)`` is the prediction after
    ``path[: i + 1]``, scored against ``target`` (-1: no target). ``argmax``: the caller
    needs the argmax token at every read (otherwise only whether it is the target)."""

    path: tuple[int, ...]
    reads: list[tuple[int, int]]
    argmax: bool = False


@dataclass
class Row:
    """One sequence of a batch: pieces of the prefix tree in depth-first order, or one path.

    ``pos[i]`` is token i's depth, its position id; tokens ``i + 1 .. end[i] - 1`` are its
    descendants, the tokens that attend to it besides itself. ``masked``: the row needs the
    tree mask (it is not one path from position 0).
    """

    tokens: list[int] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    masked: bool = False

    def path_to(self, node: int) -> tuple[int, ...]:
        """The path that ends at token ``node``: its ancestors and itself, root first."""
        return tuple(self.tokens[k] for k in range(node + 1) if self.end[k] > node)


@dataclass
class Layout:
    """Rows holding a call's paths, and where each read (numbered in request order) sits:
    its row, its index in the row, its target, and whether its argmax token is wanted."""

    rows: list[Row]
    read_row: np.ndarray
    read_node: np.ndarray
    targets: np.ndarray
    want_argmax: np.ndarray
    by_row: list[np.ndarray]  # the reads of each row


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _close(piece: Row, nodes: list[int]) -> None:
    """The subtrees of ``nodes`` end where the piece ends now (tokens are added depth first)."""
    n = len(piece.tokens)
    for k in nodes:
        piece.end[k] = n


def layout_rows(requests: Sequence[Request], row_tokens: int | None) -> Layout:
    """Rows holding every request's path, and where its reads sit.

    With ``row_tokens``, the paths form a prefix tree: in sorted order each path adds only
    the tokens after the prefix it shares with the one before, so a depth-first walk of the
    tree is cut into pieces (a new piece where nothing is shared, or where the path would take
    the piece past ``row_tokens`` tokens, or past twice the path's length if that is more, so
    that a long prompt still shares a row with its continuations), and the pieces are packed
    into rows of ``row_tokens`` tokens (or the piece's size if that is more), largest first,
    each into the fullest row it fits (best fit). Without, each path is a plain row of its
    own, except a path that begins another, which is read from that one's row.
    """
    path_id: dict[tuple[int, ...], int] = {}
    req_path = [path_id.setdefault(r.path, len(path_id)) for r in requests]
    paths = list(path_id)
    counts = [len(r.reads) for r in requests]
    n = sum(counts)
    read_path = np.repeat(np.asarray(req_path, dtype=np.int64), counts)
    read_index = np.fromiter((i for r in requests for i, _ in r.reads), dtype=np.int64, count=n)
    targets = np.fromiter((t for r in requests for _, t in r.reads), dtype=np.int64, count=n)
    want_argmax = np.repeat(np.asarray([r.argmax for r in requests], dtype=bool), counts)
    order = sorted(range(len(paths)), key=paths.__getitem__)
    path_row = np.zeros(len(paths), dtype=np.int64)
    path_nodes: list[list[int] | range] = [()] * len(paths)  # type: ignore[list-item]
    rows: list[Row] = []
    if row_tokens is None:
        host: Row | None = None
        for p in reversed(order):
            path = paths[p]
            # Sorted, a path that begins any other begins the next one.
            if host is None or len(host.tokens) < len(path) or tuple(host.tokens[: len(path)]) != path:
                host = Row(list(path), list(range(len(path))), [len(path)] * len(path))
                rows.append(host)
            path_row[p] = len(rows) - 1
            path_nodes[p] = range(len(path))
    else:
        pieces: list[Row] = []
        path_piece = np.zeros(len(paths), dtype=np.int64)
        prev: tuple[int, ...] = ()
        nodes: list[int] = []  # piece index of each token of ``prev``, the open branch
        for p in order:
            path = paths[p]
            shared = _common_prefix(prev, path) if pieces else 0
            if shared == 0 or len(pieces[-1].tokens) + len(path) - shared > max(row_tokens, 2 * len(path)):
                if pieces:
                    _close(pieces[-1], nodes)
                pieces.append(Row())
                shared, nodes = 0, []
            piece = pieces[-1]
            n0 = len(piece.tokens)
            _close(piece, nodes[shared:])  # the branch turns here: what hangs below ends
            nodes = nodes[:shared] + list(range(n0, n0 + len(path) - shared))
            piece.tokens += path[shared:]
            piece.pos += range(shared, len(path))
            piece.end += [0] * (len(path) - shared)
            path_piece[p], path_nodes[p], prev = len(pieces) - 1, nodes, path
        if pieces:
            _close(pieces[-1], nodes)
        piece_row = np.zeros(len(pieces), dtype=np.int64)
        piece_offset = np.zeros(len(pieces), dtype=np.int64)
        room: list[tuple[int, int]] = []  # sorted (free tokens, row)
        for k in sorted(range(len(pieces)), key=lambda k: -len(pieces[k].tokens)):
            piece = pieces[k]
            size = len(piece.tokens)
            j = bisect.bisect_left(room, (size, -1))
            if j < len(room):
                free, r = room.pop(j)
            else:
                free, r = max(row_tokens, size), len(rows)
                rows.append(Row())
            row = rows[r]
            piece_row[k], piece_offset[k] = r, len(row.tokens)
            row.end += [e + len(row.tokens) for e in piece.end]
            row.tokens += piece.tokens
            row.pos += piece.pos
            if free > size:
                bisect.insort(room, (free - size, r))
        for row in rows:
            row.masked = any(p != i for i, p in enumerate(row.pos))
        path_row = piece_row[path_piece]
        path_offset = piece_offset[path_piece]
    starts = np.zeros(len(paths) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in path_nodes], out=starts[1:])
    flat = np.fromiter((k for x in path_nodes for k in x), dtype=np.int64, count=int(starts[-1]))
    read_row = path_row[read_path]
    read_node = flat[starts[read_path] + read_index]
    if row_tokens is not None:
        read_node += path_offset[read_path]
    by = np.argsort(read_row, kind="stable")
    bounds = np.searchsorted(read_row[by], np.arange(len(rows) + 1))
    by_row = [by[bounds[r] : bounds[r + 1]] for r in range(len(rows))]
    return Layout(rows, read_row, read_node, targets, want_argmax, by_row)
