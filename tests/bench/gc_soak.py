"""Garbage collection racing pushes and mounts for a minute (or --seconds): a soak run.

Starts Berth under gunicorn (a fresh data directory; a fresh PostgreSQL database when
DATABASE_URL is set) and runs tests/gcrace.py against it: four threads pushing images
that share a layer (uploaded again or mounted), deleting tags, while `manage.py gc
--grace 1` runs again and again with untagged manifests reclaimed. Prints what happened;
exits 1 if a referenced blob went missing or garbage was left.

    .venv/bin/python tests/bench/gc_soak.py [--seconds 60] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.run import PASSWORD, USERNAME, start_berth  # noqa: E402
from tests.gcrace import run_race  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--grace", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="berth-gc-soak-") as tmp:
        workdir = Path(tmp)
        with start_berth(workdir, os.environ.get("DATABASE_URL", "")) as berth:
            env = {
                **os.environ,
                "BERTH_DATA_DIR": str(workdir / "berth"),
                "DJANGO_SETTINGS_MODULE": "gallery.settings",
            }
            if berth.database_url:
                env["DATABASE_URL"] = berth.database_url
            race = run_race(
                url=berth.url,
                creds=f"{USERNAME}:{PASSWORD}",
                env=env,
                seconds=args.seconds,
                threads=args.threads,
                grace=args.grace,
            )
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(f"garbage collection soak: {args.seconds:g} s, {args.threads} threads, {database}")
    accepted = len(race.accepted)
    print(f"  manifest pushes     {race.pushes} ({accepted} accepted, {race.refused} refused)")
    print(f"  mounts              {race.mounts}")
    print(f"  tags deleted        {len(race.untagged)}")
    print(f"  collections         {race.collections} (grace {args.grace} s)")
    print(f"  reclaimed meanwhile {race.reclaimed}")
    print(f"  missing blobs       {len(race.violations)}")
    print(f"  after gc --grace 0  {race.final}")
    for violation in race.violations[:20]:
        print(f"  MISSING {violation}")
    clean = (
        not race.violations
        and race.final["unreferenced"] == 0
        and race.final["stored_without_record"] == 0
        and race.final["stored"] == race.final["blobs"]
    )
    print("  result              " + ("PASS" if clean else "FAIL"))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
