"""Generates the Python modules of relledger's API from ../../proto into ./relledger_gen.

Run once after installing requirements.txt (and again when the proto changes); nothing
generated is checked in:

    python generate.py
"""

import pathlib
import sys

from grpc_tools import protoc
import grpc_tools

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
OUT = HERE / "relledger_gen"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    # The well-known types (timestamp, empty, ...) ship with grpc_tools.
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTO}",
            f"-I{include}",
            f"--python_out={OUT}",
            f"--grpc_python_out={OUT}",
            *files,
        ]
    )
    if status != 0:
        print(f"protoc failed ({status})", file=sys.stderr)
        return status
    # The generated modules import each other as `relledger.v1.*`: packages need __init__.py.
    for directory in [OUT, *[p for p in OUT.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    print(f"generated {len(files)} files into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
