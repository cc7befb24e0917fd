"""Sparse supervision with and without photometric consistency (experiments/README.md).

Modules: data (MANO / synthetic FPHAB set, annotated-frame counts), runs (step 1, step 2 with consistency and the
control, evaluation, skip-if-done), aggregate (mean/std, relative change, table.md), plot (plot.png), estimate
(--estimate timing). The command line is experiments/sparse_consistency.py.
"""
