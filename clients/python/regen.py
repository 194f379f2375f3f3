"""Regenerates the committed gRPC stubs in src/streamgate_client/proto/ from <repo>/proto.

    python regen.py          # rewrite the committed stubs
    python regen.py --check  # exit 1 (with a diff) when they differ from a fresh generation

Generation is reproducible only with the exact tool versions pinned in requirements-gen.txt,
so the script refuses to run with any other: a different grpcio-tools embeds a different
protoc, and its output differs byte for byte.

protoc names modules after the proto path (`from streamgate.v1 import lock_pb2`); the stubs
live inside this package instead, so those imports are rewritten to
`from streamgate_client.proto import lock_pb2` and the files are laid out flat.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROTO_ROOT = REPO / "proto"
PROTO_PACKAGE_DIR = "streamgate/v1"
OUT_DIR = HERE / "src" / "streamgate_client" / "proto"
PINS = HERE / "requirements-gen.txt"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def pinned_versions() -> dict[str, str]:
    """Reads `name==version` lines of requirements-gen.txt."""
    pins: dict[str, str] = {}
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip()] = version.strip()
    return pins


def check_tool_versions() -> None:
    wrong = []
    for name, want in pinned_versions().items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = "not installed"
        if have != want:
            wrong.append(f"{name}: want {want}, have {have}")
    if wrong:
        sys.exit(
            "regen.py needs the versions pinned in requirements-gen.txt "
            f"(pip install -r {PINS.name}):\n  " + "\n  ".join(wrong)
        )


def plugin(name: str) -> str:
    """Path of a protoc plugin script installed next to this interpreter."""
    scripts = Path(sysconfig.get_path("scripts"))
    path = scripts / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            sys.exit(f"{name} not found: pip install -r {PINS.name}")
        return found
    return str(path)


def generate(into: Path) -> dict[str, str]:
    """Runs protoc with both plugins; returns {file name: rewritten text}."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).glob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={into}",
        f"--grpc_python_out={into}",
        f"--plugin=protoc-gen-mypy={plugin('protoc-gen-mypy')}",
        f"--mypy_out={into}",
        f"--plugin=protoc-gen-mypy_grpc={plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_grpc_out={into}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    files = {}
    for path in sorted((into / PROTO_PACKAGE_DIR).iterdir()):
        if path.name.endswith(GENERATED_SUFFIXES):
            files[path.name] = rewrite_imports(path.read_text())
    return files


def rewrite_imports(text: str) -> str:
    text = re.sub(r"^from streamgate\.v1 import ", "from streamgate_client.proto import ", text, flags=re.M)
    return re.sub(r"^import streamgate\.v1\.", "import streamgate_client.proto.", text, flags=re.M)


def committed() -> dict[str, str]:
    return {
        p.name: p.read_text() for p in sorted(OUT_DIR.iterdir()) if p.name.endswith(GENERATED_SUFFIXES)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    check = parser.parse_args().check
    check_tool_versions()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    if not check:
        for name in committed().keys() - fresh.keys():
            (OUT_DIR / name).unlink()
        for name, text in fresh.items():
            (OUT_DIR / name).write_text(text)
        print(f"wrote {len(fresh)} files to {OUT_DIR.relative_to(REPO)}")
        return 0
    old = committed()
    stale = False
    for name in sorted(old.keys() | fresh.keys()):
        a, b = old.get(name, ""), fresh.get(name, "")
        if a != b:
            stale = True
            sys.stdout.writelines(
                difflib.unified_diff(
                    a.splitlines(keepends=True),
                    b.splitlines(keepends=True),
                    f"committed/{name}",
                    f"fresh/{name}",
                )
            )
    if stale:
        print("\nthe committed stubs are stale: run `python clients/python/regen.py` and commit")
        return 1
    print(f"{len(fresh)} committed stub files match a fresh generation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
