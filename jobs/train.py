"""spark-submit entry point: padan train. Thin: arguments go to the padan CLI, config lives in conf/.

    spark-submit --py-files dist/padan_pyfiles.zip jobs/train.py --env cluster
"""

import sys

from padan.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]], program=True))
