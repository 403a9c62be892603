"""Scheduling: decides *when*, writes due work, never sends.

APScheduler 3 ticks idempotent sweeps; any number of workers may run them.
"""

from scheduler.runner import build_scheduler

__all__ = ["build_scheduler"]
