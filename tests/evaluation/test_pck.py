import numpy as np
import pytest

from handobjectconsist.evaluation.pck import KeypointErrorAccumulator, area_under_curve, pck_curve


def test_pck_and_auc_hand_computed():
    distances = np.array([0.0, 1.0, 2.0, 3.0])
    thresholds = np.linspace(0, 4, 5)  # 0, 1, 2, 3, 4
    pck = pck_curve(distances, thresholds)
    np.testing.assert_allclose(pck, [0.25, 0.5, 0.75, 1.0, 1.0])
    # Trapezoids: (0.25+0.5)/2 + (0.5+0.75)/2 + (0.75+1)/2 + (1+1)/2 = 2.875, divided by the range 4.
    assert area_under_curve(pck, thresholds) == pytest.approx(2.875 / 4)


def test_step_pck_auc():
    # Every distance is 1.5: PCK over thresholds (0, 1, 2, 3) is the step (0, 0, 1, 1); area 0.5 + 1 = 1.5 over 3.
    acc = KeypointErrorAccumulator(num_kp=2)
    gt = np.zeros((3, 2, 3))
    pred = gt + np.array([0.9, 1.2, 0.0])  # |(0.9, 1.2, 0)| = 1.5
    acc.feed(gt, pred)
    measures = acc.get_measures(0, 3, 4)
    np.testing.assert_allclose(measures["pck_curve"], [0, 0, 1, 1])
    assert measures["auc"] == pytest.approx(0.5)
    assert measures["epe_mean"] == pytest.approx(1.5)
    assert measures["epe_median"] == pytest.approx(1.5)


def test_per_keypoint_means_and_visibility():
    acc = KeypointErrorAccumulator(num_kp=2)
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 4.0], [1.0, 0.0]], [[6.0, 8.0], [0.0, 100.0]]])
    visible = np.array([[True, True], [True, False]])
    acc.feed(gt, pred, visible)
    measures = acc.get_measures(0, 10, 11)
    np.testing.assert_allclose(measures["epe_mean_joints"], [7.5, 1.0])  # (5 + 10) / 2 and the single visible 1
    assert measures["epe_mean"] == pytest.approx(4.25)


def test_empty_accumulator_reports_nan():
    assert np.isnan(KeypointErrorAccumulator(21).get_measures(0, 1, 5)["epe_mean"])
