"""Command line of the synthetic-content generators.

    python -m handobjectconsist.synth mano  --out assets/mano_synth   synthetic MANO-format hand
    python -m handobjectconsist.synth fphab --out DIR [...]           synthetic FPHAB-layout dataset
    python -m handobjectconsist.synth ho3d  --out DIR [...]           synthetic HO3D-v2-layout dataset

Each subcommand is a function `(argv) -> int`, named below by module and attribute.
"""

import importlib
import sys

from handobjectconsist.entry import run_main

# name -> (module, function, help); modules are imported only for the subcommand that runs.
SUBCOMMANDS = {
    "mano": ("handobjectconsist.synth.mano_hand", "main",
             "synthetic MANO-format hand (MANO_RIGHT.pkl, MANO_LEFT.pkl)"),
    "fphab": ("handobjectconsist.synth.cli", "fphab_main", "synthetic dataset in the FPHAB on-disk layout"),
    "ho3d": ("handobjectconsist.synth.cli", "ho3d_main", "synthetic dataset in the HO3D-v2 on-disk layout"),
}


def usage() -> str:
    lines = ["usage: python -m handobjectconsist.synth {" + ",".join(SUBCOMMANDS) + "} [options]", ""]
    lines += [f"  {name:6s} {help_text}" for name, (_, _, help_text) in SUBCOMMANDS.items()]
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
    module_name, function, _ = SUBCOMMANDS[name]
    return run_main(getattr(importlib.import_module(module_name), function), rest)


if __name__ == "__main__":
    sys.exit(main())
