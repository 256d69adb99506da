"""An archive import: the upload (resumable) and what became of it. (Imported by
gallery.models, so that it belongs to the gallery app.)"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ArchiveImport(models.Model):
    class State(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        QUEUED = "queued", "Queued"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repository = models.ForeignKey(
        "registry.Repository", on_delete=models.CASCADE, related_name="imports"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    filename = models.CharField(max_length=255, blank=True)
    tag = models.CharField(max_length=128, blank=True)  # overrides the archive's own tags
    size = models.BigIntegerField()  # what the client announced
    received = models.BigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UPLOADING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent of the import
    kind = models.CharField(max_length=16, blank=True)  # oci, docker, helm, opa
    message = models.TextField(blank=True)  # the reason a failed import gives
    tags = models.JSONField(default=list, blank=True)  # the tags it created
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} into {self.repository_id}: {self.state}"
