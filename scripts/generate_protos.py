"""Regenerates the checked-in *_pb2.py modules (and *_pb2_grpc.py for files defining a gRPC service) from
protos/; `--check` fails if they are stale.

Run from anywhere: python scripts/generate_protos.py [--check]
Generated with grpcio-tools (pinned in the `test` extra) so the output is reproducible.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[1]
PROTO_ROOT = REPO / "protos"
# google/protobuf/*.proto (Any, wrappers), imported by the TensorFlow protos we ship; never regenerated here.
WELL_KNOWN_TYPES = Path(grpc_tools.__file__).resolve().parent / "_proto"
SERVICE = re.compile(r"^service\s", re.MULTILINE)


def generate(out_dir: Path) -> list[Path]:
    """Compiles every .proto under protos/ into out_dir; returns the generated paths relative to out_dir."""
    sources = sorted(PROTO_ROOT.rglob("*.proto"))
    _protoc(out_dir, [f"--python_out={out_dir}", f"--pyi_out={out_dir}"], sources)
    services = [source for source in sources if SERVICE.search(source.read_text())]
    if services:
        _protoc(out_dir, [f"--grpc_python_out={out_dir}"], services)
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*_pb2*.py*"))


def _protoc(out_dir: Path, outputs: list[str], sources: list[Path]) -> None:
    relative = [source.relative_to(PROTO_ROOT).as_posix() for source in sources]
    status = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{WELL_KNOWN_TYPES}", *outputs, *relative])
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only verify the checked-in modules are current")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        stale = []
        for rel in generate(tmp_dir):
            target = REPO / rel
            if not target.exists() or not filecmp.cmp(tmp_dir / rel, target, shallow=False):
                stale.append(str(rel))
                if not args.check:
                    target.write_bytes((tmp_dir / rel).read_bytes())
    if args.check and stale:
        print("stale generated modules (run python scripts/generate_protos.py):", *stale, sep="\n  ")
        return 1
    print("generated modules are current" if args.check else f"wrote {len(stale)} module(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
