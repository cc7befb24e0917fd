"""Metrics and evaluators (joint EPE, PCK/AUC, object vertex errors, 2D errors in original pixels)."""

from handobjectconsist.evaluation.evaluator import HandObjectEvaluator, masked_point_errors, to_original_pixels
from handobjectconsist.evaluation.pck import KeypointErrorAccumulator, area_under_curve, pck_curve

__all__ = ["HandObjectEvaluator", "KeypointErrorAccumulator", "area_under_curve", "masked_point_errors",
           "pck_curve", "to_original_pixels"]
