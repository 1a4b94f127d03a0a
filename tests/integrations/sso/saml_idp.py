"""A throwaway SAML identity provider for the tests: a key and certificate made here
(`cryptography`), its metadata, and SAML responses signed for real with xmlsec (python3-saml's
`add_sign`), so the signature check that sign-in runs is the real one, never mocked."""

from __future__ import annotations

import base64
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.utils import timezone
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

EMAIL_ATTRIBUTE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
GIVEN_NAME_ATTRIBUTE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"


def _instant(delta: timedelta = timedelta()) -> str:
    return (timezone.now() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SamlIdp:
    """One IdP: its entity id and sign-in URL (never called: the tests answer for it)."""

    entity_id: str = "https://idp.example.test/saml"
    sso_url: str = "https://idp.example.test/saml/sso"
    key_pem: str = field(init=False)
    cert_pem: str = field(init=False)

    def __post_init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway test IdP")])
        now = timezone.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        self.key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_b64(self) -> str:
        return "".join(self.cert_pem.strip().splitlines()[1:-1])

    def metadata(self) -> str:
        """The IdP's metadata XML, as Okta or Entra ID offer it for download."""
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{self.entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{self.cert_b64}</ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def response(
        self,
        *,
        acs_url: str,
        audience: str,
        in_response_to: str,
        email: str,
        given_name: str = "",
        sign: str = "assertion",
        signer: SamlIdp | None = None,
    ) -> str:
        """A SAML Response XML for `email`; `sign` is "assertion", "response" or "none";
        `signer` signs instead of this IdP (another key)."""
        signer = signer or self
        assertion_id, response_id = f"_a{uuid.uuid4().hex}", f"_r{uuid.uuid4().hex}"
        given = (
            f'<saml:Attribute Name="{GIVEN_NAME_ATTRIBUTE}">'
            f"<saml:AttributeValue>{given_name}</saml:AttributeValue></saml:Attribute>"
            if given_name
            else ""
        )
        now, soon = _instant(), _instant(timedelta(minutes=5))
        assertion = "".join(
            [
                f'<saml:Assertion xmlns:saml="{ASSERTION_NS}" ID="{assertion_id}" Version="2.0" ',
                f'IssueInstant="{now}"><saml:Issuer>{self.entity_id}</saml:Issuer>',
                f'<saml:Subject><saml:NameID Format="{EMAIL_FORMAT}">{email}</saml:NameID>',
                '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">',
                f'<saml:SubjectConfirmationData NotOnOrAfter="{soon}" Recipient="{acs_url}" ',
                f'InResponseTo="{in_response_to}"/></saml:SubjectConfirmation></saml:Subject>',
                f'<saml:Conditions NotBefore="{_instant(timedelta(minutes=-1))}" ',
                f'NotOnOrAfter="{soon}"><saml:AudienceRestriction>',
                f"<saml:Audience>{audience}</saml:Audience>",
                "</saml:AudienceRestriction></saml:Conditions>",
                f'<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_s{uuid.uuid4().hex}">',
                "<saml:AuthnContext><saml:AuthnContextClassRef>",
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>",
                f'<saml:AttributeStatement><saml:Attribute Name="{EMAIL_ATTRIBUTE}">',
                f"<saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute>",
                f"{given}</saml:AttributeStatement></saml:Assertion>",
            ]
        )
        if sign == "assertion":
            assertion = _signed(assertion, signer)
        response = "".join(
            [
                f'<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ',
                f'ID="{response_id}" Version="2.0" IssueInstant="{now}" ',
                f'Destination="{acs_url}" InResponseTo="{in_response_to}">',
                f"<saml:Issuer>{self.entity_id}</saml:Issuer><samlp:Status>",
                '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>',
                f"</samlp:Status>{assertion}</samlp:Response>",
            ]
        )
        if sign == "response":
            response = _signed(response, signer)
        return response


def _signed(xml: str, signer: SamlIdp) -> str:
    """`xml`'s root element signed (enveloped, RSA-SHA256) with xmlsec."""
    signed = OneLogin_Saml2_Utils.add_sign(xml, signer.key_pem, signer.cert_pem)
    text = signed.decode() if isinstance(signed, bytes) else str(signed)
    return text.removeprefix('<?xml version="1.0"?>').strip()


def tampered(xml: str, old: str, new: str) -> str:
    """The signed `xml` with `old` replaced by `new` everywhere (after signing)."""
    assert old in xml
    return xml.replace(old, new)


def encoded(xml: str) -> str:
    """The SAMLResponse form field (HTTP-POST binding)."""
    return base64.b64encode(xml.encode()).decode()


def request_id(redirect_url: str) -> str:
    """The ID of the AuthnRequest in an HTTP-Redirect binding URL (what InResponseTo names)."""
    saml_request = parse_qs(urlparse(redirect_url).query)["SAMLRequest"][0]
    xml = zlib.decompress(base64.b64decode(saml_request), -15)
    return str(etree.fromstring(xml).get("ID"))  # noqa: S320 - our own server's request
