"""Personal API tokens (`ApiToken`: name, last use) over django-oauth-toolkit's AccessToken.

Data: every token that `create_api_token` issued before (those of the "API tokens"
applications) gets a row named "CLI", so it is listed and can be revoked; and the plaintext
`token` column of every stored access and refresh token is cleared. The toolkit looks tokens
up by `token_checksum`, so they keep working; with COMPLIANT_BCP_RFC9700_TOKEN_STORAGE new
tokens are never stored in plaintext in the first place.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def forwards(apps, schema_editor):
    AccessToken = apps.get_model("oauth2_provider", "AccessToken")
    RefreshToken = apps.get_model("oauth2_provider", "RefreshToken")
    ApiToken = apps.get_model("opsduty", "ApiToken")
    cli_tokens = AccessToken.objects.filter(
        application__name="API tokens", user__isnull=False
    ).select_related("user")
    ApiToken.objects.bulk_create(
        ApiToken(
            organization_id=token.user.organization_id,
            user_id=token.user_id,
            access_token_id=token.pk,
            name="CLI",
            created_at=token.created,
        )
        for token in cli_tokens.iterator()
    )
    AccessToken.objects.exclude(token="").update(token="")
    RefreshToken.objects.exclude(token="").update(token="")


class Migration(migrations.Migration):
    dependencies = [
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("opsduty", "0003_service"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "access_token",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_token",
                        swappable=False,
                        to="oauth2_provider.accesstoken",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="opsduty.organization",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
