"""Incident state machine, dedup, events, notes, log and archive."""
