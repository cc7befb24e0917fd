"""handobjectconsist/mano/joints.py: the project joint order and its relation to MANO's."""

from handobjectconsist.mano import joints

# Upstream's MANO + tips -> project reorder and finger chains (docs/differences-from-upstream.md, K2).
UPSTREAM_REORDER = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]
UPSTREAM_CHAINS = [(0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20)]


def test_reorder_is_the_upstream_one_and_inverts():
    assert list(joints.MANO_TO_PROJECT) == UPSTREAM_REORDER
    mano_order = list(range(21))
    project = [mano_order[i] for i in joints.MANO_TO_PROJECT]
    assert [project[i] for i in joints.PROJECT_TO_MANO] == mano_order


def test_reorder_maps_names_onto_names():
    part_to_mano = {"mcp": "1", "pip": "2", "dip": "3", "tip": "_tip"}
    for project_idx, name in enumerate(joints.JOINT_NAMES):
        mano_name = joints.MANO_JOINT_NAMES[joints.MANO_TO_PROJECT[project_idx]]
        if name == "wrist":
            assert mano_name == "wrist"
        else:
            finger, part = name.split("_")
            assert mano_name == finger + part_to_mano[part], (name, mano_name)


def test_centre_joint_is_middle_mcp_and_skeleton_matches_chains():
    assert joints.JOINT_NAMES[joints.CENTER_JOINT_IDX] == "middle_mcp"
    assert [tuple(c) for c in joints.FINGER_CHAINS] == UPSTREAM_CHAINS
    expected_links = {(c[k], c[k + 1]) for c in UPSTREAM_CHAINS for k in range(4)}
    assert set(joints.SKELETON_LINKS) == expected_links and len(joints.SKELETON_LINKS) == 20
    for parent, child in joints.SKELETON_LINKS:
        assert joints.JOINT_PARENTS[child] == parent
    assert joints.JOINT_PARENTS[0] == -1
