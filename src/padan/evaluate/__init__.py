"""Accuracy against ground truth: pairwise and cluster (B-cubed) metrics."""
