"""Prediction: blocking and scoring of candidate pairs with a trained model."""
