"""Command line of the synthetic-content generators.

    python -m handobjectconsist.synth mano  --out assets/mano_synth   synthetic MANO-format hand
    python -m handobjectconsist.synth fphab --out DIR [...]           synthetic FPHAB-layout dataset
    python -m handobjectconsist.synth ho3d  --out DIR [...]           synthetic HO3D-v2-layout dataset

Each subcommand lives in its own module exposing `main(argv) -> int`.
"""

import importlib
import sys

from handobjectconsist.entry import run_main

SUBCOMMANDS = {
    "mano": ("handobjectconsist.synth.mano_hand", "synthetic MANO-format hand (MANO_RIGHT.pkl, MANO_LEFT.pkl)"),
    "fphab": ("handobjectconsist.synth.fphab", "synthetic dataset in the FPHAB on-disk layout"),
    "ho3d": ("handobjectconsist.synth.ho3d", "synthetic dataset in the HO3D-v2 on-disk layout"),
}


def usage() -> str:
    lines = ["usage: python -m handobjectconsist.synth {" + ",".join(SUBCOMMANDS) + "} [options]", ""]
    lines += [f"  {name:6s} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", "Run a subcommand with --help for its options."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}; expected one of {sorted(SUBCOMMANDS)} (see --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return run_main(module.main, rest)


if __name__ == "__main__":
    sys.exit(main())
