"""Chain the audit trail: every event stores the previous event's hash and its own."""
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from audit import chain


def chain_existing_events(apps, schema_editor):
    """Hash the events written before the chain existed, oldest first (queryset updates: save() refuses)."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias
    prev = chain.GENESIS_HASH
    for event in AuditEvent.objects.using(db).order_by("id").iterator():
        digest = chain.hash_of(event, prev_hash=prev)
        AuditEvent.objects.using(db).filter(pk=event.pk).update(prev_hash=prev, hash=digest)
        prev = digest


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("prev_hash",), name="audit_event_one_successor"),
        ),
    ]
