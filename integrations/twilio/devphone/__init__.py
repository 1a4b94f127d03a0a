"""The development phone: the fake Twilio (`integrations/twilio/fake/`) run by `make run`
(`manage.py dev_phone`) and the page at /dev/phone/ that shows what it received."""

# The development account: the fake accepts it, `seed_demo` configures the demo organization
# with it. Not secrets: they open nothing but the fake on loopback.
DEV_ACCOUNT_SID = "AC" + "de" * 16
DEV_AUTH_TOKEN = "opsduty-development-phone"  # noqa: S105
DEV_NUMBER = "+12125550199"
