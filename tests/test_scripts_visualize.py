"""visualize.py: missing checkpoints, frame selection. (The figures themselves are drawn in tests/test_demo.py.)"""

import pytest

from handobjectconsist.visualize.figures import (
    DEFAULT_RESUMES,
    FPHAB_VIZ_INDICES,
    MissingCheckpointError,
    check_checkpoints,
    select_indices,
    visualize_main,
)


def test_missing_default_checkpoints_say_how_to_make_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no releasemodels/ here
    assert visualize_main([]) == 1
    err = capsys.readouterr().err
    for path in DEFAULT_RESUMES:
        assert path in err
    assert "python trainmeshreg.py --freeze_batchnorm --workers 8 --block_rot" in err
    assert "--lambda_data 1 --lambda_consist 0" in err  # the control fine-tuning recipe
    assert "trainmeshwarp.py --freeze_batchnorm --consist_gt_refs" in err


def test_only_the_missing_checkpoint_is_reported(tmp_path):
    present = tmp_path / "a.pth"
    present.write_bytes(b"")
    missing = tmp_path / "b.pth"
    with pytest.raises(MissingCheckpointError) as info:
        check_checkpoints([present, missing], ["A", "B"])
    message = str(info.value)
    assert str(missing) in message and "trainmeshreg.py" in message
    assert str(present) not in message


def test_upstream_viz_indices_when_the_split_is_large_enough():
    indices, note = select_indices(5000, "fhbhands", "viz")
    assert indices == [479, 3010, 3820, 40, 1430, 1095, 3530, 175, 40, 4330] and note is None
    assert tuple(indices) == FPHAB_VIZ_INDICES


def test_small_split_gets_spread_frames_and_a_note():
    indices, note = select_indices(12, "fhbhands", "viz")
    assert indices[0] == 0 and indices[-1] == 11 and len(indices) == 10 and indices == sorted(set(indices))
    assert "4331" in note
    assert select_indices(7, "fhbhands", "full", max_images=3) == ([0, 1, 2], None)
