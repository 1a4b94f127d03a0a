"""Schedule rows stored before times were bounded (opsduty/timebounds.py): overrides ending
(or starting) after 2100-01-01 end there, layer dates after 2099-12-31 become that day. One
such row took the schedule page, its calendar feed and the profile pages down."""

from django.db import migrations

from opsduty.timebounds import LAST_DAY, LATEST


def clamp(apps, schema_editor):
    override = apps.get_model("escalations", "ScheduleOverride")
    layer = apps.get_model("escalations", "ScheduleLayer")
    override.objects.filter(end__gt=LATEST).update(end=LATEST)
    # Kept, not deleted: one starting after the bound becomes empty and renders nothing.
    override.objects.filter(start__gt=LATEST).update(start=LATEST)
    layer.objects.filter(start_date__gt=LAST_DAY).update(start_date=LAST_DAY)
    layer.objects.filter(repeat_until__gt=LAST_DAY).update(repeat_until=LAST_DAY)


class Migration(migrations.Migration):
    dependencies = [("escalations", "0010_service_to_core")]

    operations = [migrations.RunPython(clamp, migrations.RunPython.noop)]
