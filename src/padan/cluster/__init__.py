"""Clustering: connected components over scored pairs, and stable person ids."""
