"""spark-submit entry point: padan report. Thin: arguments go to the padan CLI, config lives in conf/.

    spark-submit --py-files dist/padan_pyfiles.zip jobs/report.py --env cluster
"""

import sys

from padan.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]], program=True))
