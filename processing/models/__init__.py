"""Models of event processing, one module per subject; this package only re-exports them."""

from processing.models.channels import OVERRIDE_FIELDS, BaseTemplate, ReceiveChannel

__all__ = ["OVERRIDE_FIELDS", "BaseTemplate", "ReceiveChannel"]
