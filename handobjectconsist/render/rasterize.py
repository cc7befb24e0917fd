"""Pure-PyTorch triangle rasteriser (CPU or CUDA, no compiled extension).

Conventions (README.md, "Layout", and libyana/camutils.py):
- camera frame is OpenCV (x right, y down, z forward), vertices in metres;
- pixel (row i, col j) samples the image point (u=j, v=i) exactly, where (u, v) = (K @ X)[:2] / z;
- no back-face culling: both windings are rasterised.

Algorithm (work grows with the pixels the faces cover, not with B*F*H*W):
1. project the vertices, build a per-face table of edge-function coefficients;
2. per face, the rows of its pixel-centre bounding box (clipped to the image) are enumerated, and on each row
   the span of columns the triangle can cover is computed analytically (in float64, widened by 0.01 px so that
   rounding never loses a candidate); rows are processed in chunks whose candidate count stays below
   ``max_candidates`` (bounded memory);
3. the (face, pixel) candidates are expanded with repeat_interleave and tested with edge functions (inside means
   all three normalised edge weights >= 0, so pixel centres exactly on an edge are covered);
4. a z-buffer keeps, per pixel, the minimum of a packed int64 key (float32 depth bits << 32 | face index):
   the nearest face wins, and at exactly equal depth the lower face index wins (deterministic);
5. the winners' perspective-correct barycentrics and depths are recomputed once per covered pixel.

Edge functions are evaluated with each edge's endpoints in a canonical order (lower vertex index first), so two
faces sharing an edge get exactly opposite values there: a closed mesh has no cracks between its faces.

Clipping: there is no polygon clipping. A face with any vertex at z < near is dropped entirely (this includes
faces behind the camera); a face with all vertices at z > far is dropped, and a covered pixel whose interpolated
depth exceeds far is left empty. Faces entirely outside the image produce no candidates. Faces that are degenerate
in the image (zero projected area, e.g. seen edge-on) cover nothing.

Visibility is not differentiable: everything here runs under torch.no_grad (upstream detach_renders=True).
Gradients reach per-vertex attributes through ``interpolate_attributes``.
"""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch

from libyana.camutils import project_points

# Rows of the per-face table (see _face_table): for each edge k (opposite vertex k): ax, ay, dx, dy, coef;
# then the three inverse depths.
_EDGE_ROWS = 5
_TABLE_ROWS = 3 * _EDGE_ROWS + 3
_EMPTY_KEY = torch.iinfo(torch.int64).max
# Row spans are widened by this many pixels so that float rounding never drops a candidate pixel centre.
_SPAN_MARGIN = 0.01


@dataclass
class Fragments:
    """Per-pixel rasterisation output (no gradient).

    Attributes:
        face_index: (B, H, W) long, index into the faces of that batch element; -1 on background.
        bary: (B, H, W, 3) perspective-correct barycentric weights of the face's three vertices (in the order of
            the face's vertex indices), summing to 1; 0 on background.
        depth: (B, H, W) camera-frame z of the visible surface in metres; 0 on background.
        mask: (B, H, W) bool, True where a face covers the pixel centre.
    """

    face_index: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor

    @property
    def image_size(self) -> Tuple[int, int]:
        """(H, W) of the rasterised image."""
        return tuple(self.face_index.shape[1:3])


def _check_inputs(verts, faces, K, image_size):
    if verts.dim() != 3 or verts.shape[-1] != 3:
        raise ValueError(f"rasterize: verts must have shape (B, V, 3), got {tuple(verts.shape)}")
    batch_size = verts.shape[0]
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(batch_size, -1, -1)
    if faces.dim() != 3 or faces.shape[-1] != 3 or faces.shape[0] != batch_size:
        raise ValueError(
            f"rasterize: faces must have shape (F, 3) or (B={batch_size}, F, 3), got {tuple(faces.shape)}"
        )
    if faces.dtype.is_floating_point:
        raise ValueError(f"rasterize: faces must be an integer (long) tensor, got {faces.dtype}")
    if faces.numel() > 0:
        low, high = torch.stack(torch.aminmax(faces)).tolist()  # one device synchronisation for both bounds
        if low < 0 or high >= verts.shape[1]:
            raise ValueError(f"rasterize: face vertex indices must lie in [0, V={verts.shape[1]}), got [{low}, {high}]")
    if K.shape != (batch_size, 3, 3):
        raise ValueError(f"rasterize: K must have shape (B={batch_size}, 3, 3), got {tuple(K.shape)}")
    if len(image_size) != 2 or int(image_size[0]) <= 0 or int(image_size[1]) <= 0:
        raise ValueError(f"rasterize: image_size must be (H, W) with positive ints, got {image_size}")
    return faces.long(), (int(image_size[0]), int(image_size[1]))


def _face_table(uv: torch.Tensor, z: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Per-face edge-function coefficients.

    Args:
        uv: (B, V, 2) projected vertices in pixels.
        z: (B, V) vertex depths (positive for faces that survive culling).
        faces: (B, F, 3) long.
    Returns:
        (_TABLE_ROWS, B*F) table; for edge k (from vertex k+1 to k+2, canonically ordered by vertex index) rows
        5k..5k+4 hold (ax, ay, dx, dy, coef) such that the barycentric weight of vertex k at pixel (px, py) is
        coef * (dx * (py - ay) - dy * (px - ax)); rows 15..17 hold 1/z of the three vertices.
        coef is inf/nan for faces with zero projected area; callers drop those faces beforehand.
    """
    batch_size, num_faces, _ = faces.shape
    flat_faces = faces.reshape(batch_size, -1)
    tri_uv = torch.gather(uv, 1, flat_faces.unsqueeze(-1).expand(-1, -1, 2)).view(batch_size, num_faces, 3, 2)
    tri_z = torch.gather(z, 1, flat_faces).view(batch_size, num_faces, 3)
    e01 = tri_uv[:, :, 1] - tri_uv[:, :, 0]
    e02 = tri_uv[:, :, 2] - tri_uv[:, :, 0]
    double_area = e01[..., 0] * e02[..., 1] - e01[..., 1] * e02[..., 0]
    rows = []
    for k in range(3):
        ia, ib = (k + 1) % 3, (k + 2) % 3
        swap = faces[:, :, ia] > faces[:, :, ib]
        a = torch.where(swap.unsqueeze(-1), tri_uv[:, :, ib], tri_uv[:, :, ia])
        b = torch.where(swap.unsqueeze(-1), tri_uv[:, :, ia], tri_uv[:, :, ib])
        d = b - a
        sign = 1.0 - 2.0 * swap.to(uv.dtype)
        rows += [a[..., 0], a[..., 1], d[..., 0], d[..., 1], sign / double_area]
    rows += [1.0 / tri_z[..., k] for k in range(3)]
    return torch.stack(rows, 0).reshape(_TABLE_ROWS, batch_size * num_faces)


def _gather_columns(table: torch.Tensor, index: torch.Tensor):
    """Columns ``index`` of a (R, N) table as R contiguous (len(index),) tensors (faster than one 2-D gather)."""
    return [row.index_select(0, index) for row in table]


def _edge_weights(table_cols: List[torch.Tensor], px: torch.Tensor, py: torch.Tensor):
    """Screen-space weights (w0, w1, w2), each (N,), at pixel centres (px, py) from gathered table columns."""
    weights = []
    for k in range(3):
        ax, ay, dx, dy, coef = table_cols[_EDGE_ROWS * k : _EDGE_ROWS * (k + 1)]
        weights.append((dx * (py - ay) - dy * (px - ax)) * coef)
    return weights


def _depth(table_cols: List[torch.Tensor], weights) -> torch.Tensor:
    """Perspective-correct depth (N,) from screen-space weights: 1/z is affine in screen space."""
    w0, w1, w2 = weights
    iz = table_cols[3 * _EDGE_ROWS :]
    return (w0 + w1 + w2) / (w0 * iz[0] + w1 * iz[1] + w2 * iz[2])


def _perspective(table_cols: List[torch.Tensor], weights):
    """Depth (N,) and perspective-correct barycentrics (N, 3) from screen-space weights."""
    w0, w1, w2 = weights
    total = w0 + w1 + w2
    iz = table_cols[3 * _EDGE_ROWS :]
    scaled = torch.stack([w0 * iz[0], w1 * iz[1], w2 * iz[2]], -1) / total.unsqueeze(-1)
    inv_depth = scaled.sum(-1)
    return 1.0 / inv_depth, scaled / inv_depth.unsqueeze(-1)


def _chunks(cum_counts: torch.Tensor, max_candidates: int):
    """Split items into consecutive ranges whose summed count is <= max_candidates (a larger item stands alone).

    Args:
        cum_counts: (N,) inclusive cumulative sum of the per-item counts (copied to the host once: the chunks'
            counts are then known without further device synchronisation).
    Yields:
        (start, end, count): the items start..end-1 and their summed count.
    """
    cum = cum_counts.cpu()
    num = cum.shape[0]
    start, done = 0, 0
    while start < num:
        end = int(torch.searchsorted(cum, done + max_candidates, right=True))
        end = max(end, start + 1)
        total = int(cum[end - 1])
        yield start, end, total - done
        done = total
        start = end


def _cull_faces(verts, faces, K, height, width, near, far):
    """Project, build the face table, cull faces and compute the pixel-centre bounding boxes of the kept ones.

    Returns:
        table (_TABLE_ROWS, B*F); face_ids (M,) global ids b*F+f of the kept faces; tri (M, 3, 2) their projected
        vertices; x0, x1, y0 (M,) first/last bounding-box column and first row; heights (M,) bounding-box rows.
    """
    batch_size = verts.shape[0]
    uv = project_points(verts, K.to(verts.dtype))
    z = verts[..., 2]
    table = _face_table(uv, z, faces)

    flat_faces = faces.reshape(batch_size, -1)
    tri_z = torch.gather(z, 1, flat_faces).view(-1, 3)
    tri_uv = torch.gather(uv, 1, flat_faces.unsqueeze(-1).expand(-1, -1, 2)).view(-1, 3, 2)
    # Pixel centres are at integer coordinates; clamp before rounding so far-off vertices cannot overflow.
    lo = tri_uv.amin(1)
    hi = tri_uv.amax(1)
    x0 = lo[:, 0].clamp(-1, width).ceil().long().clamp(min=0)
    y0 = lo[:, 1].clamp(-1, height).ceil().long().clamp(min=0)
    x1 = hi[:, 0].clamp(-1, width).floor().long().clamp(max=width - 1)
    y1 = hi[:, 1].clamp(-1, height).floor().long().clamp(max=height - 1)
    coefs = table[[_EDGE_ROWS * k + 4 for k in range(3)]]
    min_z = tri_z.amin(1)
    finite = coefs[0].isfinite() & coefs[1].isfinite() & coefs[2].isfinite()
    keep = (min_z >= near) & (min_z <= far) & finite & (x1 >= x0) & (y1 >= y0)
    face_ids = keep.nonzero().squeeze(1)
    return table, face_ids, tri_uv[face_ids], x0[face_ids], x1[face_ids], y0[face_ids], (y1 - y0 + 1)[face_ids]


def _row_spans(face_ids, tri_uv, x0, x1, y0, heights, num_rows: int):
    """Candidate columns of every bounding-box row of the given faces; num_rows = heights.sum() (known on the host).

    Returns:
        row_face (R,) global face id, row_y (R,) image row, row_x (R,) first candidate column, row_len (R,) number
        of candidate columns (possibly 0).
    """
    device = face_ids.device
    row_local = torch.repeat_interleave(torch.arange(face_ids.shape[0], device=device), heights, output_size=num_rows)
    row_face = face_ids.index_select(0, row_local)
    row_y = (
        y0.index_select(0, row_local)
        + torch.arange(num_rows, device=device)
        - (heights.cumsum(0) - heights).index_select(0, row_local)
    )

    # On row y, edge P->Q of a face crosses x = Px + (Qx - Px) / (Qy - Py) * (y - Py); the interior lies right of
    # the crossing (a lower bound on x) or left of it (an upper bound), depending on the face orientation.
    # Horizontal edges only bound rows, which the bounding box already does. Each bound is written as
    # slope * y + intercept, with intercept -inf (lower) / +inf (upper) for edges that do not bound that side; the
    # bounding box columns are a fourth, constant bound.
    tri = tri_uv.double()
    e01 = tri[:, 1] - tri[:, 0]
    e02 = tri[:, 2] - tri[:, 0]
    orientation = torch.sign(e01[:, 0] * e02[:, 1] - e01[:, 1] * e02[:, 0])
    start = tri[:, [1, 2, 0]]
    delta = tri[:, [2, 0, 1]] - start
    side = -delta[..., 1] * orientation.unsqueeze(1)  # (M, 3): > 0 lower bound, < 0 upper bound
    slope = delta[..., 0] / torch.where(delta[..., 1] == 0, torch.ones_like(delta[..., 1]), delta[..., 1])
    intercept = start[..., 0] - slope * start[..., 1]
    inf = torch.full_like(intercept, float("inf"))
    params = torch.cat(
        [
            torch.where(side > 0, slope, 0.0),  # rows 0-2: lower-bound slopes
            torch.where(side > 0, intercept, -inf) - _SPAN_MARGIN,  # rows 3-5: lower-bound intercepts
            x0[:, None].double() - _SPAN_MARGIN,  # row 6: bounding box
            torch.where(side < 0, slope, 0.0),  # rows 7-9: upper-bound slopes
            torch.where(side < 0, intercept, inf) + _SPAN_MARGIN,  # rows 10-12: upper-bound intercepts
            x1[:, None].double() + _SPAN_MARGIN,  # row 13: bounding box
        ],
        1,
    )
    row_params = _gather_columns(params.t().contiguous(), row_local)  # 14 x (R,)
    y = row_y.double()
    span_lo = torch.maximum(
        torch.maximum(row_params[0] * y + row_params[3], row_params[1] * y + row_params[4]),
        torch.maximum(row_params[2] * y + row_params[5], row_params[6]),
    )
    span_hi = torch.minimum(
        torch.minimum(row_params[7] * y + row_params[10], row_params[8] * y + row_params[11]),
        torch.minimum(row_params[9] * y + row_params[12], row_params[13]),
    )
    first = span_lo.clamp(max=2.0**40).ceil().long()  # the clamp only keeps far-off crossings from overflowing
    row_len = (span_hi.clamp(min=-1).floor().long() - first + 1).clamp(min=0)
    return row_face, row_y, first, row_len


def _iter_row_spans(face_ids, tri_uv, x0, x1, y0, heights, max_rows):
    """Row spans of consecutive groups of faces with at most max_rows bounding-box rows each (bounded memory)."""
    if face_ids.numel() == 0:
        return
    for start, end, num_rows in _chunks(heights.cumsum(0), max_rows):
        yield _row_spans(face_ids[start:end], tri_uv[start:end], x0[start:end], x1[start:end], y0[start:end],
                         heights[start:end], num_rows)


@torch.no_grad()
def count_candidates(verts, faces, K, image_size, near: float = 0.1, far: float = 100.0) -> int:
    """Number of (face, pixel) candidate pairs ``rasterize`` tests for these inputs (for benchmarks)."""
    faces, (height, width) = _check_inputs(verts, faces, K, image_size)
    culled = _cull_faces(verts, faces, K, height, width, near, far)[1:]
    return sum(int(spans[3].sum()) for spans in _iter_row_spans(*culled, max_rows=1 << 20))


@torch.no_grad()
def rasterize(
    verts: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    near: float = 0.1,
    far: float = 100.0,
    max_candidates: int = 1 << 20,
) -> Fragments:
    """Rasterise triangle meshes seen by pinhole cameras (z-buffer, no back-face culling, no anti-aliasing).

    Args:
        verts: (B, V, 3) camera-frame vertices in metres (OpenCV: x right, y down, z forward).
        faces: (F, 3) or (B, F, 3) long vertex indices (per batch element when batched).
        K: (B, 3, 3) intrinsics in pixels; pixel (row i, col j) samples (u=j, v=i).
        image_size: (H, W) in pixels; any aspect ratio.
        near: faces with any vertex at z < near (metres) are dropped (no clipping).
        far: faces with every vertex beyond far are dropped; pixels whose depth exceeds far stay empty.
        max_candidates: bound on the (face, pixel) candidate pairs processed at once (~200 B each; a row span is
            never split, so the bound is max(max_candidates, W)); faces are enumerated in groups of at most
            max_candidates / 4 bounding-box rows (~250 B each; a face is never split, so at most H rows).
            Beyond that, memory is O(B*F + B*H*W).
    Returns:
        Fragments with face_index (B, H, W), bary (B, H, W, 3), depth (B, H, W), mask (B, H, W); no gradient.
    """
    faces, (height, width) = _check_inputs(verts, faces, K, image_size)
    batch_size, num_faces = faces.shape[:2]
    device, dtype = verts.device, verts.dtype
    num_pixels = height * width
    if num_faces >= 2**31 or batch_size * num_pixels >= 2**62:
        raise ValueError("rasterize: too many faces or pixels for the packed z-buffer keys")

    table, *culled = _cull_faces(verts, faces, K, height, width, near, far)

    zbuffer = torch.full((batch_size * num_pixels,), _EMPTY_KEY, dtype=torch.int64, device=device)
    for row_face, row_y, row_x, row_len in _iter_row_spans(*culled, max_rows=max(max_candidates // 4, 1)):
        for start, end, total in _chunks(row_len.cumsum(0), max_candidates):
            _rasterize_chunk(
                zbuffer, table, row_face[start:end], row_y[start:end], row_x[start:end], row_len[start:end],
                total, num_faces, width, num_pixels, far,
            )

    return _resolve(zbuffer, table, batch_size, num_faces, height, width, dtype)


def _rasterize_chunk(zbuffer, table, row_face, row_y, row_x, row_len, total, num_faces, width, num_pixels, far):
    """Test every (face, pixel) candidate of the given row spans (total = row_len.sum(), known on the host) and
    min-reduce the hits into ``zbuffer``."""
    device = row_face.device
    local = torch.repeat_interleave(torch.arange(row_face.shape[0], device=device), row_len, output_size=total)
    offset = torch.arange(total, device=device) - (row_len.cumsum(0) - row_len).index_select(0, local)
    gid = row_face.index_select(0, local)
    py = row_y.index_select(0, local)
    px = row_x.index_select(0, local) + offset

    cols = _gather_columns(table, gid)
    weights = _edge_weights(cols, px.to(table.dtype), py.to(table.dtype))
    depth = _depth(cols, weights)
    w0, w1, w2 = weights
    hit = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (depth <= far)

    batch_index = gid // num_faces
    pixel = batch_index * num_pixels + py * width + px
    # Positive float32 values order like their int32 bit patterns: pack depth above the face index.
    depth_bits = depth.float().view(torch.int32).to(torch.int64)
    key = torch.where(hit, (depth_bits << 32) | (gid - batch_index * num_faces), _EMPTY_KEY)
    zbuffer.scatter_reduce_(0, pixel, key, reduce="amin")


def _resolve(zbuffer, table, batch_size, num_faces, height, width, dtype) -> Fragments:
    """Turn the packed z-buffer into Fragments, recomputing barycentrics and depth of the winning faces."""
    device = zbuffer.device
    num_pixels = height * width
    covered = (zbuffer != _EMPTY_KEY).nonzero().squeeze(1)
    face_index = torch.full((batch_size * num_pixels,), -1, dtype=torch.int64, device=device)
    bary = torch.zeros(batch_size * num_pixels, 3, dtype=dtype, device=device)
    depth = torch.zeros(batch_size * num_pixels, dtype=dtype, device=device)
    if covered.numel() > 0:
        local_face = zbuffer[covered] & 0xFFFFFFFF
        batch_index = covered // num_pixels
        in_image = covered - batch_index * num_pixels
        py = in_image // width
        px = in_image - py * width
        cols = _gather_columns(table, batch_index * num_faces + local_face)
        weights = _edge_weights(cols, px.to(dtype), py.to(dtype))
        pixel_depth, pixel_bary = _perspective(cols, weights)
        face_index[covered] = local_face
        bary[covered] = pixel_bary
        depth[covered] = pixel_depth
    face_index = face_index.view(batch_size, height, width)
    return Fragments(
        face_index=face_index,
        bary=bary.view(batch_size, height, width, 3),
        depth=depth.view(batch_size, height, width),
        mask=face_index >= 0,
    )
