"""Heartbeat labels are chosen from the organization's labels from now on: the names heartbeats
already carry become organization labels (unless a label of that name exists)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def labels_listed(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    heartbeat = apps.get_model("signals", "Heartbeat")
    label = apps.get_model("opsduty", "Label")
    wanted: dict[int, set[str]] = {}
    for organization_id, names in heartbeat.objects.exclude(labels=[]).values_list(
        "organization_id", "labels"
    ):
        wanted.setdefault(organization_id, set()).update(
            name.strip()
            for name in names or []
            if isinstance(name, str) and 0 < len(name.strip()) <= 64
        )
    for organization_id, names in wanted.items():
        existing = set(
            label.objects.filter(organization_id=organization_id).values_list("name", flat=True)
        )
        label.objects.bulk_create(
            [
                label(organization_id=organization_id, name=name)
                for name in sorted(names - existing)
            ],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0010_prefix_covered_indexes_dropped"),
        ("opsduty", "0011_label_group_service_labels"),
    ]

    operations = [migrations.RunPython(labels_listed, migrations.RunPython.noop)]
