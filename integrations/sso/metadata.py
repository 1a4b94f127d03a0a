"""Reading what an owner gives us about a SAML IdP: its metadata (XML, or a URL fetched once
when the settings are saved) or its entity id, sign-in URL and certificate. Everything is
checked here, so a bad paste is a form error and never a failure at sign-in time."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from django.core.exceptions import ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

# What python3-saml raises for XML that is not XML, has a DTD or entities (it refuses them),
# or has no IdP descriptor; and what urllib raises for a URL that does not answer.
_PARSE_ERRORS = (Exception,)
METADATA_TIMEOUT_SECONDS = 10
MAX_METADATA_BYTES = 1_000_000

_PEM_BODY = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class IdpSettings:
    """The three things SAML sign-in needs from the IdP."""

    entity_id: str
    sso_url: str
    x509cert: str  # base64 DER, no PEM armour, no white space


def certificate_normalize(text: str) -> str:
    """The base64 DER of one X.509 certificate given as PEM or bare base64; ValidationError
    on anything else (with what is wrong)."""
    found = _PEM_BODY.search(text)
    body = found.group(1) if found else text
    body = "".join(body.split())
    if not body:
        raise ValidationError("Paste the IdP's signing certificate.")
    try:
        der = base64.b64decode(body, validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as error:
        raise ValidationError(
            "This is not an X.509 certificate (PEM, from -----BEGIN CERTIFICATE----- to "
            "-----END CERTIFICATE-----, or its base64 text)."
        ) from error
    if certificate.public_key() is None:  # pragma: no cover - cryptography always has one
        raise ValidationError("The certificate has no public key.")
    return body


def _from_parsed(parsed: dict[str, Any], source: str) -> IdpSettings:
    idp = parsed.get("idp") or {}
    entity_id = str(idp.get("entityId") or "")
    sso_url = str((idp.get("singleSignOnService") or {}).get("url") or "")
    cert = idp.get("x509cert") or ""
    if not cert:
        signing = (idp.get("x509certMulti") or {}).get("signing") or []
        cert = signing[0] if signing else ""
    missing = [
        name
        for name, value in (
            ("an entity id", entity_id),
            ("a sign-in (SingleSignOnService) URL", sso_url),
            ("a signing certificate", cert),
        )
        if not value
    ]
    if missing:
        raise ValidationError(f"The {source} has no {', '.join(missing)} of an IdP.")
    return IdpSettings(entity_id, sso_url, certificate_normalize(str(cert)))


def metadata_parse(xml: str) -> IdpSettings:
    """The IdP settings in pasted SAML metadata XML; ValidationError if it has none."""
    if len(xml.encode()) > MAX_METADATA_BYTES:
        raise ValidationError("The metadata is larger than 1 MB.")
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml.strip().encode())
    except _PARSE_ERRORS as error:
        raise ValidationError(
            "This is not SAML metadata XML (an EntityDescriptor with an IDPSSODescriptor)."
        ) from error
    return _from_parsed(parsed, "metadata")


def metadata_fetch(url: str) -> IdpSettings:
    """The IdP settings at a metadata URL, fetched now; ValidationError if it cannot be read
    or is not metadata."""
    try:
        xml = OneLogin_Saml2_IdPMetadataParser.get_metadata(
            url, validate_cert=True, timeout=METADATA_TIMEOUT_SECONDS
        )
    except _PARSE_ERRORS as error:
        raise ValidationError(
            f"The metadata URL could not be read ({type(error).__name__}). Check the address, "
            "or paste the metadata XML instead."
        ) from error
    text = xml.decode(errors="replace") if isinstance(xml, bytes) else str(xml)
    return metadata_parse(text)
