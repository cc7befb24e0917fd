"""Qualitative comparison of trained models on a test split.

As upstream's visualize.py; docs/differences-from-upstream.md, K7.

    python visualize.py                       # the three upstream models under releasemodels/ (see --resumes)
    python visualize.py --resumes A.pth B.pth C.pth --model_names "100%" "10%" "10% + consistency" \
        --data_root data/synth_demo --mano_root assets/mano_synth --mode viz

Writes <out_dir>/images/render{k:06d}.png (default out_dir: checkpoints/{dataset}/{com}): per image a Ground Truth
row and one row per model (mask contours, meshes coloured by their 3D vertex error, rotated view). Each model is
rebuilt from its own checkpoint's options and sees the frames at its training width; the figures show the frames
at --display_width (default: as stored, 480x270 for FPHAB).
"""

import sys

from handobjectconsist.visualize.figures import visualize_main

if __name__ == "__main__":
    sys.exit(visualize_main())
