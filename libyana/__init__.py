"""libyana: small generic helpers, named after the helper library that the original code imports (libyana)
for the same kind of functions.

What belongs here: pure functions on arrays, tensors, files and random states that would make sense in any
geometry or vision project, each with its shapes and units documented:

    camutils      pinhole projection (torch and numpy)       rotations   axis-angle to rotation matrix (torch, numpy)
    transforms2d  2D homogeneous transforms of points        procrustes  similarity alignment of point sets
    boxes         corners and edges of axis-aligned boxes    meshutils   concatenating meshes of a batch
    fileio        atomic file writes                         meters      running averages
    seeding       seeding every random number generator

What does not: anything that knows about hands, objects, MANO, the datasets' layouts or the training options (that
lives in handobjectconsist). This package imports no module of handobjectconsist (tests/test_layering.py checks
it); handobjectconsist uses it from every layer.
"""
