from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


# Built without locking the table against writes (an existing installation's incidents keep
# arriving while they build).
class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("incidents", "0013_prefix_covered_indexes_dropped"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(fields=["organization", "-id"], name="incident_org_recent"),
        ),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(
                condition=models.Q(
                    ("archived_at", None), ("status__in", ("triggered", "acknowledged", "silenced"))
                ),
                fields=["organization"],
                name="incident_open_by_org",
            ),
        ),
    ]
