"""Twilio: SMS and voice paging with acknowledgement, incoming-call routing, numbers
(docs/telephony.md)."""
