"""Receive channels, conditions, routing rules, event orchestrations and the pipeline."""
