"""Helpers for the command line tests: running the installed `proto-splitter` script, the sample messages,
and damaging files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import proto_splitter as ps
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as tm
from proto_splitter.testing.graphs import graph_def_like

GRAPH = "proto_splitter.testing3.Graph"
EVERYTHING = "proto_splitter.testing.Everything"
SCRIPT = shutil.which("proto-splitter")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run_cli(*args, cwd=None, env=None, timeout: float = 120) -> Result:
    """Runs the installed console script (not the module in this process); output decoded as UTF-8."""
    if SCRIPT is None:
        pytest.fail("the proto-splitter console script is not installed: python -m pip install -e '.[test]'")
    completed = subprocess.run(
        [SCRIPT, *map(str, args)], capture_output=True, cwd=cwd, timeout=timeout, env=env, check=False
    )
    return Result(
        completed.returncode, completed.stdout.decode(errors="replace"), completed.stderr.decode(errors="replace")
    )


def one_line_error(result: Result, command: str) -> str:
    """The single error line a failed command prints on stderr (nothing on stdout)."""
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"proto-splitter {command}: error: "), lines[0]
    return lines[0]


def make_graph() -> t3.Graph:
    """Six 300 kB constants (three 100 kB pieces each at max_chunk_size=100_000 with cut_values=True), 600 small
    nodes, a function library and a blob."""
    graph = graph_def_like(6, constant_size=300_000, small_nodes=600, seed=bytes(range(256)) * 1200)
    function = graph.library.function.add(name="f")
    function.ops.add(name="inner", op="Const").attr["value"].tensor.content = b"\x01" * 1900
    function.ret["out"] = "inner:0"
    graph.blobs[7] = b"blob" * 30_000
    return graph


def make_everything() -> tm.Everything:
    message = tm.Everything()
    message.scalars.f_bytes = b"a" * 9000
    message.scalars.f_string = "é" * 3000
    message.repeateds.r_bytes.extend([b"x" * 6000, b"", b"z" * 7000])
    message.repeateds.r_int64.extend(range(-500, 500))
    for key in (-5, 0, 7):
        message.maps.int64_to_node[key].payload = b"p" * 4000
    message.maps.string_to_bytes["big"] = b"B" * 8000
    message.maps.bool_to_node[True].name = "t" * 5000
    message.item.add(id=1, data=b"g" * 6000)
    return message


@dataclass
class Files:
    """Real files written once per session (read-only: tests damage copies in `work`)."""

    root: Path
    graph: t3.Graph
    graph_pb: Path  # the plain serialized graph
    graph_cpb: Path  # default Riegeli options: small records share 1 MiB Riegeli chunks
    isolated_cpb: Path  # chunk_size:1: every record in a Riegeli chunk of its own (precise damage)
    everything: tm.Everything
    everything_cpb: Path

    @classmethod
    def create(cls, root: Path) -> Files:
        graph = make_graph()
        graph_pb = root / "plain_graph.pb"
        graph_pb.write_bytes(graph.SerializeToString(deterministic=True))
        # Values cut into pieces (proto-splitter's extension) make many chunks of a small file.
        graph_cpb = Path(ps.write(graph, root / "graph", max_chunk_size=100_000, cut_values=True))
        isolated_cpb = Path(
            ps.write(graph, root / "isolated", max_chunk_size=100_000, options="chunk_size:1", cut_values=True)
        )
        everything = make_everything()
        everything_cpb = Path(ps.write(everything, root / "everything", max_chunk_size=3000))
        return cls(root, graph, graph_pb, graph_cpb, isolated_cpb, everything, everything_cpb)

    def copy_to(self, folder: Path) -> None:
        for path in (self.graph_pb, self.graph_cpb, self.isolated_cpb, self.everything_cpb):
            shutil.copy(path, folder / path.name)


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x5A
    path.write_bytes(bytes(data))


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


def data_byte(path: Path, index: int) -> int:
    """The file position of a byte in the middle of the Riegeli chunk data holding chunk `index`."""
    from proto_splitter.cli.chunk_layout import ChunkLayout
    from proto_splitter.riegeli.format import CHUNK_HEADER_SIZE, add_with_overhead

    info = ps.read_metadata(str(path)).chunks[index]
    with ChunkLayout(str(path)) as layout:
        chunk = layout.chunk_holding(info.offset)
    return add_with_overhead(chunk.begin, CHUNK_HEADER_SIZE + chunk.data_size // 2)


def environment(**extra) -> dict:
    env = dict(os.environ)
    env.update(extra)
    return env
