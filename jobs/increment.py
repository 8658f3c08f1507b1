"""spark-submit entry point: padan increment. Adds one new batch of a source to the lake.

    spark-submit --py-files dist/padan_pyfiles.zip jobs/increment.py --env cluster \
        --source prakerja --batch 2026-11-28 --path s3a://landing/prakerja/2026-11-28/

Exit status: 0 when the batch was added, 0 when it had been added before (a log line says so),
non-zero with one clear message otherwise.
"""

import sys

from padan.cli import main

if __name__ == "__main__":
    sys.exit(main(["increment", *sys.argv[1:]], program=True))
