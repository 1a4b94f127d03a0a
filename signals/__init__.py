"""Everything that comes in: webhooks + raw event store, heartbeats, Slack and Twilio inbound."""
