from django.core.management.base import BaseCommand

from gallery import services
from registry.models import Repository


class Command(BaseCommand):
    help = "Rebuild the catalog from the registry: index every repository (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="only these repositories")

    def handle(self, *args, names, **options):
        repositories = Repository.objects.order_by("pk")
        if names:
            repositories = repositories.filter(name__in=names)
        count = 0
        for repository_id in repositories.values_list("pk", flat=True).iterator():
            services.index_repository(repository_id=repository_id)
            count += 1
        services.refresh_downloads(
            repository_ids=None if not names else list(repositories.values_list("pk", flat=True))
        )
        self.stdout.write(f"indexed {count} repositor{'y' if count == 1 else 'ies'}")
