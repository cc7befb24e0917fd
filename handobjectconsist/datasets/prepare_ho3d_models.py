"""Make HO3D-v2's simplified object meshes (modelsprocess/<objName>/textured_simple_2000.obj) from the YCB models.

    python -m handobjectconsist.datasets.prepare_ho3d_models --ycb DIR --out data/ho3dv2/modelsprocess [--faces 2000]

DIR holds the YCB-Video models as distributed with HO3D (<objName>/textured_simple.obj, metres, e.g.
003_cracker_box/textured_simple.obj). Each mesh is decimated to about --faces faces with trimesh's
simplify_quadric_decimation (needs the `fast-simplification` package: pip install fast-simplification) and written
as <out>/<objName>/textured_simple_2000.obj (vertices and faces only). Existing outputs are kept unless --force.
"""

import argparse
import sys
from pathlib import Path

import trimesh

INPUT_NAME = "textured_simple.obj"
OUTPUT_NAME = "textured_simple_2000.obj"


def simplify(mesh: trimesh.Trimesh, faces: int) -> trimesh.Trimesh:
    """Quadric decimation of `mesh` to about `faces` faces (meshes already small enough are returned as is)."""
    if len(mesh.faces) <= faces:
        return mesh
    try:
        return mesh.simplify_quadric_decimation(face_count=faces)
    except (ImportError, ModuleNotFoundError) as exc:
        raise SystemExit("mesh decimation needs trimesh's optional backend: `pip install fast-simplification` "
                         f"({exc})") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ycb", required=True, help="folder with <objName>/textured_simple.obj")
    parser.add_argument("--out", required=True, help="output modelsprocess folder")
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--force", action="store_true", help="rewrite existing outputs")
    args = parser.parse_args(argv)
    ycb = Path(args.ycb)
    sources = sorted(ycb.glob(f"*/{INPUT_NAME}"))
    if not sources:
        raise SystemExit(f"missing {ycb}/<objName>/{INPUT_NAME}: expected the YCB object models used by HO3D "
                         "(e.g. 003_cracker_box/textured_simple.obj), as downloaded with the HO3D release")
    for src in sources:
        dst = Path(args.out) / src.parent.name / OUTPUT_NAME
        if dst.is_file() and not args.force:
            print(f"keep {dst}")
            continue
        mesh = trimesh.load(str(src), process=False, force="mesh")
        small = simplify(trimesh.Trimesh(mesh.vertices, mesh.faces, process=True), args.faces)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp.obj")
        small.export(tmp, file_type="obj")
        tmp.replace(dst)
        print(f"{src.parent.name}: {len(mesh.faces)} -> {len(small.faces)} faces, {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
