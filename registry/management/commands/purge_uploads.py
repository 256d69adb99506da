from django.core.management.base import BaseCommand

from registry import services


class Command(BaseCommand):
    help = "Delete upload sessions idle for longer than BERTH_UPLOAD_TTL, and their staged bytes."

    def handle(self, *args, **options):
        count = services.purge_expired_uploads()
        self.stdout.write(f"purged {count} expired upload session(s)")
