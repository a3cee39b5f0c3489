"""Backfills: replay bgp-updates and flows over a past window, each flow enriched point-in-time.

Modules: :mod:`.window` (--from/--to), :mod:`.plan` (offsets by time, checkpoints),
:mod:`.timeline` (the point-in-time mechanism), :mod:`.quixapp` (the Quix app, aligned
topics), :mod:`.runner` (one replay end to end), :mod:`.checkpoint` /
:mod:`.checkpoint_store` / :mod:`.checkpointer` (RIB checkpoints), :mod:`.cli`.
"""

from ribflow.replay.settings import ReplaySettings
from ribflow.replay.stats import RouterStats, Totals
from ribflow.replay.window import Window, parse_window

__all__ = ["ReplaySettings", "RouterStats", "Totals", "Window", "parse_window"]
