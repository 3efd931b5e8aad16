"""Refresh passes, rollbacks and the scheduler (the run bookkeeping is geopublish.ledger)."""
