"""A fake Twilio for the test suite and `make run`: the REST API on loopback, signed callbacks,
and the phones on the far side (`server.FakeTwilio`, driven over HTTP by `FakeTwilioControl`).

It imports no Django app: `make run` starts it as its own process (`__main__.py`).
"""

from integrations.twilio.fake.control import FakeTwilioControl
from integrations.twilio.fake.model import ApiError, FakeError, Phone
from integrations.twilio.fake.server import FakeTwilio, SmsResult

__all__ = ["ApiError", "FakeError", "FakeTwilio", "FakeTwilioControl", "Phone", "SmsResult"]
