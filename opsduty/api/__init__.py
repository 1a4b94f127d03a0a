"""REST API v1, wire-compatible with the public OpsDuty API (../shared/spec/api-v1.md)."""
