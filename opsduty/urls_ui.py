"""The browser UI, included at the site root. Int kwargs are named `team_id`, `user_id`,
`application_id`, `token_id`, `incident_id`, `service_id`, `routing_rule_id`, `route_id`,
`orchestration_id`, `policy_id`, `step_id`, `schedule_id`, `layer_id`, `override_id`,
`channel_id`, `webhook_id`, `raw_event_id`, `heartbeat_id`, `heartbeat_state_id`, `number_id`,
`destination_id`, `invitation_id` (the tenancy test substitutes another organization's ids by
name)."""

from __future__ import annotations

from django.urls import include, path

from opsduty.views import (
    audit,
    auth,
    developer,
    devinbox,
    invitations,
    members,
    organization,
    profile,
    teams,
    tokens,
)

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("members/", members.member_list, name="members"),
    path("members/<int:user_id>/role/", members.member_set_role, name="member_set_role"),
    path("members/<int:user_id>/deactivate/", members.member_deactivate, name="member_deactivate"),
    path("members/<int:user_id>/reactivate/", members.member_reactivate, name="member_reactivate"),
    path("members/<int:user_id>/delete/", members.member_delete, name="member_delete"),
    path("members/invite/", invitations.invitation_create, name="invitation_create"),
    path(
        "members/invitations/<int:invitation_id>/resend/",
        invitations.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "members/invitations/<int:invitation_id>/revoke/",
        invitations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
    path("teams/", teams.team_list, name="teams"),
    path("teams/create/", teams.team_create, name="team_create"),
    path("teams/<int:team_id>/", teams.team_detail, name="team_detail"),
    path("teams/<int:team_id>/members/add/", teams.team_add_member, name="team_add_member"),
    path(
        "teams/<int:team_id>/members/<int:user_id>/remove/",
        teams.team_remove_member,
        name="team_remove_member",
    ),
    path("teams/<int:team_id>/delete/", teams.team_delete, name="team_delete"),
    path("profile/", profile.profile, name="profile"),
    path("profile/details/", profile.profile_update, name="profile_update"),
    path("profile/password/", profile.password_change, name="password_change"),
    path("profile/email/", profile.email_change, name="email_change"),
    path("email-change/<str:token>/", profile.email_change_confirm, name="email_change_confirm"),
    path(
        "profile/sign-out-everywhere/",
        profile.sign_out_everywhere,
        name="sign_out_everywhere",
    ),
    path("profile/tokens/", tokens.profile_tokens, name="profile_tokens"),
    path("profile/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("settings/tokens/", tokens.organization_tokens, name="organization_tokens"),
    path(
        "settings/organization/",
        organization.organization_settings,
        name="organization_settings",
    ),
    path(
        "settings/organization/rename/",
        organization.organization_rename,
        name="organization_rename",
    ),
    path(
        "settings/organization/close/", organization.organization_close, name="organization_close"
    ),
    path("settings/audit/", audit.audit_log, name="audit_log"),
    path("settings/audit/export.csv", audit.audit_log_csv, name="audit_log_csv"),
    path("settings/developer/", developer.developer_settings, name="developer_settings"),
    path("dev/inbox/", devinbox.dev_inbox, name="dev_inbox"),
    path(
        "settings/developer/applications/create/",
        developer.application_create_view,
        name="application_create",
    ),
    path(
        "settings/developer/applications/<int:application_id>/delete/",
        developer.application_delete_view,
        name="application_delete",
    ),
    path("", include("incidents.urls")),
    path("", include("escalations.catalog.urls")),
    path("", include("escalations.engine.urls")),
    path("", include("escalations.notifications.urls")),
    path("", include("escalations.policies.urls")),
    path("", include("escalations.schedules.urls")),
    path("", include("escalations.diagnostics.urls")),
    path("", include("processing.routing.urls")),
    path("", include("processing.channels.urls")),
    path("", include("signals.webhooks.urls")),
    path("", include("processing.pipeline.urls")),
    path("", include("signals.heartbeats.urls")),
    path("", include("integrations.twilio.setup.urls")),
    path("", include("integrations.twilio.verification.urls")),
    path("", include("integrations.slack.setup.urls")),
    path("", include("integrations.slack.linking.urls")),
    path("", include("analytics.urls")),
]
