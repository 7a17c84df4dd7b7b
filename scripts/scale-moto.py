#!/usr/bin/env python3
"""`make scale-moto`: one large import through the real functions on the local stack,
committed in partitions.

A delivery of SCALE_MOTO_OBJECTS objects (default 10,000,000) lands on moto; the
trigger, the worker and the committer run as `inventory-import local --function …`
processes (as `make bench`'s end-to-end step runs them) with IMPORT_PARTITIONS
(default 4), so that the commit is cut into that many partitions. The job must commit
with every object counted added, and the import branch must list exactly as many
objects. Prints the wall time from the delivery to the commit and each process's peak
memory, and adds them to bench/results.json under "scale_moto".
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the end-to-end step of `make bench`)


def main():
    objects = int(os.environ.get("SCALE_MOTO_OBJECTS", "10000000"))
    os.environ.setdefault("IMPORT_PARTITIONS", "4")
    files = max(1, objects // 250_000)
    print(f"End to end on the local stack, {objects:,} objects in {files} data files, "
          f"IMPORT_PARTITIONS={os.environ['IMPORT_PARTITIONS']} ...", flush=True)
    # end_to_end fails unless the job committed with every object added.
    result = bench.end_to_end(objects, files)
    checks = {
        "every object in the tree": result["total"] == objects,
        "partitions": result["partitions"] == int(os.environ["IMPORT_PARTITIONS"]),
    }
    result["checks"] = checks
    results_path = bench.RESULTS
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["scale_moto"] = result
    results_path.parent.mkdir(exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not all(checks.values()):
        raise SystemExit(f"the import is not exact: {checks}")


if __name__ == "__main__":
    main()
