"""`manage.py replicate`: run replication here and now, as a worker would.

    manage.py replicate                     # every repository of every ready rule
    manage.py replicate --rule 3            # one rule's repositories
    manage.py replicate --rule 3 --repository alice/app

For the embedded mode's cron (no beat there), and for operators. Runs are idempotent and
take the same lease a worker takes: a repository another run works on is left to it.
"""

from django.core.management.base import BaseCommand, CommandError

from registry.replication import services
from registry.replication.models import ReplicationRule


class Command(BaseCommand):
    help = "Replicate repositories now (every ready rule, or one)."

    def add_arguments(self, parser):
        parser.add_argument("--rule", type=int, help="the rule's id")
        parser.add_argument("--repository", help="one repository of that rule")

    def handle(self, *args, **options):
        rules = ReplicationRule.objects.select_related("namespace", "target")
        if options["rule"] is not None:
            rules = rules.filter(pk=options["rule"])
            if not rules.exists():
                raise CommandError(f"no rule {options['rule']}")
        failed = 0
        for rule in rules:
            if not rule.ready:
                self.stdout.write(f"rule {rule.pk}: not ready (disabled or not accepted)")
                continue
            wanted = [options["repository"]] if options["repository"] else None
            wanted = wanted or sorted(
                set(services.repositories_of(rule))
                | set(rule.tags.values_list("repository_name", flat=True))
            )
            for name in wanted:
                try:
                    outcome = services.replicate(rule_id=rule.pk, name=name)
                except services.ReplicationFailed as error:
                    failed += 1
                    self.stderr.write(f"rule {rule.pk} {name}: {error.message}")
                    continue
                self.stdout.write(
                    f"rule {rule.pk} {name}: {outcome.status}, {outcome.pushed} manifests, "
                    f"{outcome.tags} tags set, {outcome.deleted} deleted"
                )
        if failed:
            raise CommandError(f"{failed} failed")
