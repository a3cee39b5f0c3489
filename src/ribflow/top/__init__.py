"""`ribflow top`: a terminal dashboard of enriched flows (sliding window, top-N, sparklines)."""

from ribflow.top.render import render
from ribflow.top.window import DIMENSIONS, Dimension, SlidingWindow, Snapshot

__all__ = ["DIMENSIONS", "Dimension", "SlidingWindow", "Snapshot", "render"]
