"""Incoming-call routing: a caller picks a service, an incident opens on it, and the call is
connected to the people its escalation policy pages, one at a time, with call screening."""
