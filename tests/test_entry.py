"""handobjectconsist/entry.py: the matplotlib backend is chosen by the command line, not by importing the library."""

import subprocess
import sys
import textwrap

import matplotlib

from handobjectconsist.entry import run_main

FIGURE_MODULES = ("handobjectconsist.training.monitor", "handobjectconsist.training.samplefig",
                  "handobjectconsist.visualize.pairs", "handobjectconsist.visualize.comparison",
                  "handobjectconsist.visualize.figures", "handobjectconsist.evaluation.ho3d_score",
                  "handobjectconsist.synth.hand_preview")


def test_importing_the_figure_modules_leaves_the_backend_alone():
    code = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use("pdf")
        import importlib
        for name in {FIGURE_MODULES!r}:
            importlib.import_module(name)
        print(matplotlib.get_backend())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pdf"


def test_run_main_selects_agg_and_figures_save_without_a_display(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    matplotlib.use("pdf")
    seen = {}

    def run(argv):
        import matplotlib.pyplot as plt

        seen["backend"] = matplotlib.get_backend()
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        fig.savefig(tmp_path / "line.png")
        plt.close(fig)
        return 0

    assert run_main(run, []) == 0
    assert seen["backend"].lower() == "agg"
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
