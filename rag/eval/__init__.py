"""Evaluation harness: dataset format, answer-quality metrics, regression gate and report."""

from rag.eval.dataset import Example, load_dataset, validate_dataset
from rag.eval.metrics import Report, evaluate

__all__ = ["Example", "Report", "evaluate", "load_dataset", "validate_dataset"]
