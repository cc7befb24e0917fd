"""The project's 21-joint hand layout and its relation to MANO's joint order.

Project order: [wrist, thumb MCP, PIP, DIP, tip, index x4, middle x4, ring x4, pinky x4] (for the thumb "MCP" is the
first thumb joint, FPHAB's TMCP). MANO order: 16 kinematic joints [wrist, index 1-3, middle 1-3, pinky 1-3,
ring 1-3, thumb 1-3] followed by the 5 tip vertices appended in finger order thumb, index, middle, ring, pinky.
"""

FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")

JOINT_NAMES = ("wrist",) + tuple(
    f"{finger}_{part}" for finger in FINGER_NAMES for part in ("mcp", "pip", "dip", "tip")
)
NUM_JOINTS = len(JOINT_NAMES)  # 21

ROOT_JOINT_IDX = 0  # wrist
CENTER_JOINT_IDX = 9  # middle-finger MCP, the centring joint used everywhere

# One chain per finger, from the wrist to the tip.
FINGER_CHAINS = tuple((0, 4 * f + 1, 4 * f + 2, 4 * f + 3, 4 * f + 4) for f in range(len(FINGER_NAMES)))

# Bones as (parent, child) pairs, 20 of them.
SKELETON_LINKS = tuple((chain[k], chain[k + 1]) for chain in FINGER_CHAINS for k in range(len(chain) - 1))

# Parent of each joint in project order (-1 for the wrist).
JOINT_PARENTS = (-1,) + tuple(parent for parent, _ in SKELETON_LINKS)

# MANO joint names (16 kinematic joints, then the 5 appended tips).
MANO_JOINT_NAMES = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
    "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip",
)
NUM_MANO_KINEMATIC_JOINTS = 16

# project_joints = mano_joints[:, MANO_TO_PROJECT] (also the HO3D file order -> project order).
MANO_TO_PROJECT = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

# mano_joints = project_joints[:, PROJECT_TO_MANO] (the inverse permutation, e.g. to write HO3D submissions).
PROJECT_TO_MANO = tuple(MANO_TO_PROJECT.index(i) for i in range(NUM_JOINTS))
