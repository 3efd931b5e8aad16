"""Schedules, run history and per-layer locks."""
