"""Marts and the run report: what the programmes see."""
