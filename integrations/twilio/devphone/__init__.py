"""The development phone (/dev/phone/): the handsets of the fake Twilio (`make run`) for an
organization's people, to read their texts, answer their calls and call the organization."""
