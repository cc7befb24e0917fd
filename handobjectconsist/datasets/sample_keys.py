"""The keys of a sample dictionary: the one contract between datasets, models, training and visualisation.

One frame is a dict {key: value}. After collation every tensor gets a leading batch dimension B.
Units: metres for 3D (camera frame, OpenCV: x right, y down, z forward), pixels for 2D.
"Original pixels" are those of the frame as stored on disk (after `--input_width` resizing, if any);
"input pixels" are those of the augmented network input image. AFFINE maps the first to the second.
Joints follow the project order [wrist, thumb MCP..tip, index, middle, ring, pinky] (21 joints).
"""

# Network input
IMAGE = "image"                    # (3, H, W) float32 RGB in [-0.5, 0.5], augmented, full frame
JITTER_MASK = "jitter_mask"        # (1, H, W) float32, 1 = real pixel, 0 = padding introduced by augmentation
CAM_INTR = "cam_intr"              # (3, 3) float32 intrinsics of the network input (augmentation applied)
AFFINE = "affine"                  # (3, 3) float32, original pixels -> input pixels (homogeneous)
IMAGE_ORIG = "image_orig"          # (H0, W0, 3) uint8 original frame (visualisation only; may be absent)
CAM_INTR_ORIG = "cam_intr_orig"    # (3, 3) float32 intrinsics of the original frame
REPORT_SCALE = "report_scale"      # (2,) float32 (sx, sy): original pixels -> pixels of the dataset's reference
                                   # frame, in which 2D errors are reported (FPHAB 480x270, HO3D 640x480)
# The frames of a consistency item at --consist_width (the photometric loss's resolution), with the same spatial
# augmentation as IMAGE mapped to that width; present only when the dataset is built with consist_width.
CONSIST_IMAGE = "consist_image"              # (3, Hc, Wc) float32 RGB in [-0.5, 0.5]
CONSIST_JITTER_MASK = "consist_jitter_mask"  # (1, Hc, Wc) float32, 1 = real pixel, 0 = padding
CONSIST_CAM_INTR = "consist_cam_intr"        # (3, 3) float32 intrinsics of CONSIST_IMAGE

# Hand ground truth (camera frame)
JOINTS3D = "joints3d"              # (21, 3) float32, metres
JOINTS2D = "joints2d"              # (21, 2) float32, original pixels
HAND_VERTS3D = "hand_verts3d"      # (V, 3) float32, metres (GT hand mesh; MANO fit for FPHAB)
HAND_POSE = "hand_pose"            # (48,) float32 axis-angle, flat-hand-mean convention (if available)
HAND_SHAPE = "hand_shape"          # (10,) float32 MANO betas (if available)
SIDE = "side"                      # str, "right" or "left"

# Object ground truth
OBJ_VERTS3D = "obj_verts3d"        # (N, 3) float32, metres, camera frame
OBJ_VERTS2D = "obj_verts2d"        # (N, 2) float32, original pixels
OBJ_CAN_VERTS = "obj_can_verts"    # (N, 3) float32, model frame, centred on the model's bounding-box centre
OBJ_FACES = "obj_faces"            # (F, 3) int64
OBJ_VERTS_MASK = "obj_verts_mask"  # (N,) bool, added by collate: True for real (not padding) vertices
OBJ_FACES_MASK = "obj_faces_mask"  # (F,) bool, added by collate: True for real faces (padding faces are [0,0,0])
OBJ_CORNERS3D = "obj_corners3d"    # (8, 3) float32, metres, camera frame: the object's bounding-box corners (HO3D
                                   # only; order of HO3D's objCorners3DRest, edges in visualize.boxes.BOX_EDGES)
OBJ_CORNERS2D = "obj_corners2d"    # (8, 2) float32, original pixels, projection of OBJ_CORNERS3D (HO3D only)
OBJ_CAN_CORNERS = "obj_can_corners"  # (8, 3) float32, model frame, the same corners centred like OBJ_CAN_VERTS
                                   # (HO3D only); the model poses them exactly as it poses OBJ_CAN_VERTS
OBJ_NAME = "obj_name"              # str

# Bookkeeping
SEQ_NAME = "seq_name"              # str, e.g. "Subject_1/open_milk/1"
FRAME_IDX = "frame_idx"            # int, index of the frame in its sequence
ANNOTATED = "annotated"            # bool, True if the frame's GT may be used for supervision ("strong")
DIST2STRONG = "dist2strong"        # int, frame distance to the closest annotated frame (0 if annotated)
DIST2QUERY = "dist2query"          # int, frame distance to the query frame of a consistency item (0 for the query)
