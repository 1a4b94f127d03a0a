"""Settings -> Telephony (owners); included by opsduty/urls_ui.py. Int kwargs: `number_id`,
`destination_id` (registered in the tenancy walk, tests/opsduty/test_tenancy_walk.py)."""

from __future__ import annotations

from django.urls import path

from integrations.twilio.setup import views

urlpatterns = [
    path("settings/telephony/", views.telephony_settings, name="twilio_settings"),
    path("settings/telephony/account/", views.account_save, name="twilio_account_save"),
    path("settings/telephony/account/remove/", views.account_remove, name="twilio_account_remove"),
    path("settings/telephony/limits/", views.limits_update, name="twilio_limits_update"),
    path("settings/telephony/numbers/search/", views.number_search, name="twilio_number_search"),
    path("settings/telephony/numbers/buy/", views.number_buy, name="twilio_number_buy"),
    path(
        "settings/telephony/numbers/<int:number_id>/",
        views.number_update,
        name="twilio_number_update",
    ),
    path(
        "settings/telephony/numbers/<int:number_id>/release/",
        views.number_release,
        name="twilio_number_release",
    ),
    path(
        "settings/telephony/numbers/<int:number_id>/destinations/",
        views.destination_add,
        name="twilio_destination_add",
    ),
    path(
        "settings/telephony/destinations/<int:destination_id>/remove/",
        views.destination_remove,
        name="twilio_destination_remove",
    ),
    path("settings/telephony/addresses/", views.addresses, name="twilio_addresses"),
]
