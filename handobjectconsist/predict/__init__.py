"""Predictions on your own frames with a trained model.

    python -m handobjectconsist.predict --resume CKPT --images DIR|VIDEO|IMAGE --intrinsics fx fy cx cy \
        [--object MESH|NAME] --out DIR [--device auto] [--batch_size N] [--side right]

Modules: frames (read the frames), videoio (OpenCV video decoding, MP4/GIF writing), objects (--object mesh or
training-object name -> canonical vertices), inference (resize + scaled intrinsics -> MeshRegNet -> predictions in
the user's camera), overlay (meshes shaded over the frames with render.shade_mesh), export (per-frame PNG, OBJ/PLY,
JSON), staging (all-or-nothing output folder), cli (flags, the run, one-line errors).
"""
