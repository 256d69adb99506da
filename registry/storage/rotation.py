"""Master key rotation: every data key re-wrapped under the current master key.

Content is never rewritten: a sealed blob keeps its data key; only the wrapping (in the
database) changes. Rows are updated one by one, each only if nobody changed it meanwhile,
so rotation runs while the registry serves and can be interrupted and run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..models import Blob, Upload
from . import keys

BATCH = 500


class RotationRefused(Exception):
    pass


@dataclass
class Rotation:
    current: str
    rewrapped: int = 0
    retired: list[str] = field(default_factory=list)


def rotate(*, new_key: bool = False, keep_retired: bool = False, settle: float = 2.0) -> Rotation:
    """Re-wrap every data key under the current master key.

    `new_key` (the local key file only): first generate a new master key, first in the file
    and so current; once everything is re-wrapped the older keys leave the file unless
    `keep_retired`. Web processes re-read the key file when it changes; `settle` seconds
    and a second pass catch uploads that started with the old key meanwhile.
    """
    service = keys.key_service()
    path = getattr(service, "_path", None)
    if new_key:
        if service.kind != "local" or path is None:
            raise RotationRefused(
                "--new-key generates a key into the key file; with BERTH_MASTER_KEY or "
                "BERTH_KMS_KEY_ID, configure the new key first (BERTH_MASTER_KEY takes "
                "several keys, the current one first) and rotate without --new-key"
            )
        texts = keys.read_key_file(path)
        keys.write_key_file(path, [keys.new_key_text(), *texts])
    rotation = Rotation(current=service.current_id())
    rotation.rewrapped += _rewrap_all(service)
    if new_key and not keep_retired:
        time.sleep(settle)
        rotation.rewrapped += _rewrap_all(service)
        texts = keys.read_key_file(path)
        rotation.retired = [keys.key_id_of(keys.derive(text)) for text in texts[1:]]
        keys.write_key_file(path, texts[:1])
    return rotation


def _rewrap_all(service) -> int:
    current = service.current_id()
    count = 0
    for model in (Blob, Upload):
        seen: set = set()
        while True:
            rows = list(
                model.objects.exclude(sealed_key=None)
                .exclude(key_id=current)
                .exclude(pk__in=seen)
                .values_list("pk", "key_id", "sealed_key")[:BATCH]
            )
            if not rows:
                break
            for pk, key_id, wrapped in rows:
                seen.add(pk)
                data_key = keys.unwrap(key_id, bytes(wrapped))
                new_id, new_wrapped = service.wrap(data_key)
                count += model.objects.filter(pk=pk, key_id=key_id).update(
                    key_id=new_id, sealed_key=new_wrapped
                )
    return count
