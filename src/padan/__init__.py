"""padan: pemadanan data -- probabilistic linkage of Indonesian population registers.

Spark does the work, Splink's Fellegi-Sunter model scores pairs, Delta Lake keeps every decision.
"""

__version__ = "0.1.0"
