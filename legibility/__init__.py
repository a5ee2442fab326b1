"""legibility: an open, runnable reproduction of Ruffle et al. (NeuroImage 2024),
"Computational limits to the legibility of the imaged human brain"."""

__version__ = "0.2.0"
