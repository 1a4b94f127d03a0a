"""The signed-in user's own settings, one page per section under a sub-navigation: contact
methods here (/profile/: name, phone, password, sessions), API tokens in `tokens.py`; the
sections that later apps add (notification rules, calendar feeds) are their own views,
listed through `profile_section_register`, and render `opsduty/profile_base.html` with
`profile_context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty import services
from opsduty.forms import EmailChangeForm, PasswordChangeForm, ProfileForm
from opsduty.models import EMAIL_CHANGE_HOURS, EmailChange, User
from opsduty.views.common import AuthedRequest, add_validation_error


@dataclass(frozen=True)
class ProfileSection:
    """One page of the profile: its entry in the sub-navigation and the URL name it links to."""

    label: str
    url_name: str


# The core's sections: contact methods first, personal API tokens (opsduty/views/tokens.py)
# last; apps add theirs between them (in their AppConfig.ready), in the order they register.
# The core imports no app: it only knows their URL names.
CONTACT_SECTION = ProfileSection(label="Contact methods", url_name="profile")
TOKENS_SECTION = ProfileSection(label="API tokens", url_name="profile_tokens")
_app_sections: list[ProfileSection] = []


def profile_section_register(section: ProfileSection) -> None:
    """Add an app's `section` to the profile's sub-navigation (idempotent)."""
    if section not in _app_sections:
        _app_sections.append(section)


def profile_sections() -> list[ProfileSection]:
    """The profile's sections in sub-navigation order."""
    return [CONTACT_SECTION, *_app_sections, TOKENS_SECTION]


def profile_context(current: str, **context: Any) -> dict[str, Any]:
    """The context of a profile page: `current` is its section's URL name (the sub-navigation
    marks it) and the main navigation marks Profile."""
    return {**context, "active": "profile", "profile_current": current}


def _profile_form(user: User) -> ProfileForm:
    return ProfileForm(
        initial={
            "first_name": user.first_name,
            "last_name": user.last_name,
            "phone_number": user.phone_number,
            "time_zone": user.time_zone,
        },
        organization=user.organization,
    )


def _page(
    request: AuthedRequest,
    *,
    profile_form: ProfileForm | None = None,
    password_form: PasswordChangeForm | None = None,
    email_form: EmailChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = profile_context(
        CONTACT_SECTION.url_name,
        profile_form=profile_form or _profile_form(request.user),
        password_form=password_form or PasswordChangeForm(user=request.user),
        email_form=email_form or EmailChangeForm(),
        email_waiting=EmailChange.objects.filter(
            user=request.user, confirmed_at=None, expires_at__gt=timezone.now()
        ).first(),
    )
    return render(request, "opsduty/profile.html", context, status=status)


@require_GET
@login_required
def profile(request: AuthedRequest) -> HttpResponse:
    """The profile's first section, contact methods: name and phone, password, sessions."""
    return _page(request)


@require_POST
@login_required
def profile_update(request: AuthedRequest) -> HttpResponseBase:
    """Save first/last name, phone number (the model validates E.164) and time zone."""
    form = ProfileForm(request.POST, organization=request.organization)
    if form.is_valid():
        # A fresh copy: a rejected edit must not leak into request.user (the page header).
        user = User.objects.get(pk=request.user.pk)
        try:
            services.user_update_profile(user=user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Your profile has been saved.")
            return redirect("profile")
    return _page(request, profile_form=form)


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_POST
@login_required
def password_change(request: AuthedRequest) -> HttpResponseBase:
    """Change the password; this session stays signed in, every other session is signed out."""
    form = PasswordChangeForm(user=request.user, data=request.POST)
    if not form.is_valid():
        return _page(request, password_form=form)
    user = services.user_change_password(
        user=request.user, new_password=form.cleaned_data["new_password1"]
    )
    # The session hash mixes in the password: other sessions no longer match it; this one is
    # re-hashed here so it stays valid.
    update_session_auth_hash(request, user)
    messages.success(request, "Your password has been changed. Other devices were signed out.")
    return redirect("profile")


@require_POST
@login_required
def sign_out_everywhere(request: AuthedRequest) -> HttpResponse:
    """Invalidate every session of the user, this one included."""
    services.user_sign_out_everywhere(user=request.user)
    logout(request)
    messages.success(request, "You have been signed out of all devices.")
    return redirect("login")


@sensitive_post_parameters("password")
@require_POST
@login_required
def email_change(request: AuthedRequest) -> HttpResponseBase:
    """Ask for another address: a link to confirm goes there, a notice to the current one."""
    form = EmailChangeForm(request.POST)
    if form.is_valid():
        try:
            change = services.email_change_request(
                user=request.user,
                new_email=form.cleaned_data["new_email"],
                password=form.cleaned_data["password"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                f"We sent a link to {change.new_email}: your address changes when you follow"
                f" it (within {EMAIL_CHANGE_HOURS} hours).",
            )
            return redirect("profile")
    return _page(request, email_form=form, status=400)


@require_http_methods(["GET", "POST"])
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a new address: a button to use it (a link preview that fetches the
    page changes nothing), then the address is the account's. A link that cannot be used
    says why (404 unknown, 410 used or expired)."""
    change = services.email_change_for_token(token)
    state = services.email_change_state(change)
    reason = services.EMAIL_CHANGE_REFUSED.get(state, "")
    if request.method == "POST" and state == "waiting":
        try:
            user = services.email_change_confirm(token=token)
        except services.EmailChangeRefused as refused:
            reason = str(refused)
        else:
            messages.success(request, f"Your address is now {user.email}.")
            return redirect("profile" if request.user.is_authenticated else "login")
    if reason:
        status = 404 if state == "unknown" else 410
        context = {"reason": reason}
        return render(request, "opsduty/link_refused.html", context, status=status)
    return render(request, "opsduty/email_change_confirm.html", {"change": change})
