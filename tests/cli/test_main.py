"""The command group: log levels and one-line errors."""

from __future__ import annotations

import logging

from geopublish.cli.main import log_level


def test_verbose_flags_reach_info_then_debug_and_quiet_only_errors():
    assert log_level(0, False) == logging.WARNING
    assert log_level(1, False) == logging.INFO
    assert log_level(2, False) == logging.DEBUG
    assert log_level(5, False) == logging.DEBUG
    assert log_level(3, True) == logging.ERROR
