"""The one place that builds a SparkSession.

`get_spark()` reuses the session that spark-submit, Databricks or pytest already started. Only
when there is none does it start a local one with Delta Lake, the staged Delta jars, Splink's
similarity jar, a checkpoint directory and shuffle partitions sized to the cores.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import Mapping

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession
from splink.backends.spark import similarity_jar_location

from padan.errors import PadanError

logger = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


PRIVATE_UMASK = "077"   # lake files and folders: owner-only

# Whether padan chose this process's Spark checkpoint folder (not spark-submit's, Databricks' or a
# test's): only then are its files (Splink's lineage-breaking Parquet, RDD checkpoints) padan's to
# remove when the command ends.
_OWNED = {"checkpoints": False, "session": False}

def splink_jar() -> str:
    return similarity_jar_location()


def staged_delta_jars() -> list[str]:
    """Jars staged by `make setup` (folder from PADAN_JARS_DIR, else `.jars` of the checkout)."""
    folder = staged_jars_folder()
    return sorted(glob.glob(str(folder / "*.jar"))) if folder else []


def staged_jars_folder() -> Path | None:
    """The folder `make setup` staged the Delta jars into (PADAN_JARS_DIR, else `.jars` of the
    working directory, its parents or the checkout), or None."""
    candidates = []
    if os.environ.get("PADAN_JARS_DIR"):
        candidates.append(Path(os.environ["PADAN_JARS_DIR"]))
    here = Path.cwd()
    candidates += [p / ".jars" for p in [here, *here.parents]]
    candidates.append(Path(__file__).resolve().parents[2] / ".jars")
    for folder in candidates:
        if any("delta-spark" in Path(j).name for j in glob.glob(str(folder / "*.jar"))):
            return folder
    return None


# The driver JVM's class-data-sharing archive (AppCDS, JEP 350), built by `make setup`
# (scripts/build_class_archive.py) beside the staged jars. A JVM that maps it skips parsing and
# verifying the ~20,000 Spark, Hadoop and Scala classes a session loads: measured on this 2-core
# machine, a local session's start plus one Delta write and read went from 36-39 to 28-29 CPU-s of
# the machine (wall 21-22 -> 15.5-16 s; docs/BENCHMARKS.md). The archive belongs to the
# JVM build and class path that wrote it: any other JVM, or a changed class path, ignores it
# silently (-Xshare:auto with the cds logs off) and loads its classes as usual.
CLASS_ARCHIVE = "driver-classes.jsa"
CLASS_ARCHIVE_OFF = "PADAN_CLASS_ARCHIVE"      # set to 0 to start drivers without it


def class_archive_options() -> str:
    """The driver JVM options that map the class archive, or '' (none built, turned off, or a path
    Java options cannot carry)."""
    if os.environ.get(CLASS_ARCHIVE_OFF, "1") == "0":
        return ""
    folder = staged_jars_folder()
    path = folder / CLASS_ARCHIVE if folder else None
    if path is None or not path.is_file() or set(str(path)) & set(",\"' \t\n"):
        return ""
    return f"-XX:SharedArchiveFile={path} -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"


def _running_under_spark_submit() -> bool:
    # spark-submit's PythonRunner hands the driver a py4j gateway through this variable.
    return "PYSPARK_GATEWAY_PORT" in os.environ


DEBUG_ORIGIN_CONF = "spark.python.sql.dataFrameDebugging.enabled"


def local_session_conf(*, master: str, app_name: str, driver_memory: str, ui_enabled: bool,
                       shuffle_partitions: int | None, warehouse_dir: str | None = None,
                       local_dir: str | None = None) -> dict[str, str]:
    """Everything a self-started local session needs (jars, Delta, sizing). `local_dir`: the
    folder for shuffle and spill files (`spark.local.dir`) and the driver JVM's temp files
    (`java.io.tmpdir`), a local-mode session's only (padan.scratch: the run's folder in the lake)."""
    delta_jars = staged_delta_jars()
    if not delta_jars:
        raise PadanError(
            "the Delta Lake jars are not staged: run `make setup` (or set PADAN_JARS_DIR to a folder "
            "holding delta-spark and its dependencies)"
        )
    cores = os.cpu_count() or 2
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.driver.memory": driver_memory,
        "spark.jars": ",".join([*delta_jars, splink_jar()]),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.ui.enabled": str(ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions or max(2, 2 * cores)),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta rebuilds table state with 50 tasks by default: far too many for a laptop or CI.
        "spark.databricks.delta.snapshotPartitions": str(max(2, cores)),
        # Delta 4 copies a small table's whole file list into each commit's checksum file (.crc), to
        # verify checkpoints against; for a table's first commit that list is a Spark job of its own
        # (one per table a run creates). Nothing reads it back to plan a query: off.
        "spark.databricks.delta.allFilesInCrc.enabled": "false",
        "spark.driver.extraJavaOptions": " ".join(filter(None, ["-Dlog4j2.level=WARN", class_archive_options()])),
        "spark.hadoop.fs.permissions.umask-mode": PRIVATE_UMASK,
        # RDD checkpoint files are removed once their RDD is gone, not left in the lake.
        "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
        # collect() and createDataFrame hand data over on a loopback socket that the JVM closes when
        # Python has not connected within this time (15 s by default): a driver paused that long on
        # a loaded machine then fails with "Connection refused" (seen once in CI).
        "spark.python.authenticate.socketTimeout": "300s",
        # PySpark records the Python call site of every Column and DataFrame function it is handed
        # (a stack walk and four JVM round trips each, for error messages' "called from" lines):
        # padan's stages build thousands of expressions per query, so this was ~15% of a small
        # ingest's driver time. Error messages keep their error class and text.
        DEBUG_ORIGIN_CONF: "false",
    }
    if warehouse_dir:
        conf["spark.sql.warehouse.dir"] = warehouse_dir
    # spark.local.dir is a comma-separated list and Java options are split at blanks and quotes: a
    # folder whose name holds one of those keeps Spark's defaults.
    if local_dir and master.startswith("local") and not set(local_dir) & set(",\"' \t\n"):
        os.makedirs(local_dir, mode=0o700, exist_ok=True)
        conf["spark.local.dir"] = local_dir
        conf["spark.driver.extraJavaOptions"] += f" -Djava.io.tmpdir={local_dir}"
        if os.environ.get("SPARK_LOCAL_DIRS"):
            logger.info("SPARK_LOCAL_DIRS is set: Spark writes its shuffle files there, not in the run folder")
    return conf


def get_spark(app_name: str = "padan", conf: Mapping[str, str] | None = None, *, master: str = "local[*]",
              driver_memory: str = "4g", ui_enabled: bool = False, shuffle_partitions: int | None = None,
              checkpoint_dir: str | None = None, local_dir: str | None = None) -> SparkSession:
    """Return the active SparkSession, or start a local one configured for padan (`local_dir`:
    see `local_session_conf`; ignored when a session exists or spark-submit started this driver)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    active = SparkSession.getActiveSession()
    if active is not None:
        spark = active
        logger.debug("reusing the active Spark session")
    elif _running_under_spark_submit():
        # spark-submit owns master, jars and memory; Delta's extension still needs the builder.
        builder = (SparkSession.builder.appName(app_name)
                   .config("spark.sql.extensions", DELTA_EXTENSION)
                   .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG))
        # A static setting (see local_session_conf): off unless the submitter's --conf chose.
        SparkContext._ensure_initialized()          # the submitting JVM's gateway, so SparkConf sees its conf
        if not SparkConf().contains(DEBUG_ORIGIN_CONF):
            builder = builder.config(DEBUG_ORIGIN_CONF, "false")
        spark = builder.getOrCreate()
        logger.info("using the spark-submit session (master %s)", spark.sparkContext.master)
    else:
        builder = SparkSession.builder
        for key, value in local_session_conf(master=master, app_name=app_name, driver_memory=driver_memory,
                                             ui_enabled=ui_enabled, shuffle_partitions=shuffle_partitions,
                                             local_dir=local_dir).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        _OWNED["session"] = True
        logger.info("started a local Spark session (master %s)", master)
    for key, value in (conf or {}).items():
        spark.conf.set(key, value)
    # Lake files hold personal data: owner-only (0600 files, 0700 folders) through Hadoop's file
    # systems, whoever started the session. A cluster sets the same for its executors with
    # --conf spark.hadoop.fs.permissions.umask-mode=077 (conf/cluster and docs/CLUSTER.md).
    spark.sparkContext._jsc.hadoopConfiguration().set("fs.permissions.umask-mode", PRIVATE_UMASK)
    if checkpoint_dir and spark.sparkContext.getCheckpointDir() is None:
        set_checkpoint_dir(spark, checkpoint_dir)
    return spark


def set_checkpoint_dir(spark: SparkSession, folder: str) -> None:
    """Set the session's checkpoint folder (Spark makes `<folder>/<context id>` of it), as padan's."""
    spark.sparkContext.setCheckpointDir(folder)
    _OWNED["checkpoints"] = True


def release_checkpoints() -> str | None:
    """Remove this session's checkpoint folder (`<checkpoint dir>/<context id>`: Splink's Parquet
    copies of personal-data frames and RDD checkpoints) when padan chose it, as a command ends;
    returns the folder removed. A folder someone else set (a test, a notebook host) is left alone."""
    if not _OWNED["checkpoints"]:
        return None
    active = SparkSession.getActiveSession()
    if active is None:
        return None
    sc = active.sparkContext
    folder = sc.getCheckpointDir()
    if not folder:
        return None
    path = sc._jvm.org.apache.hadoop.fs.Path(folder)
    path.getFileSystem(sc._jsc.hadoopConfiguration()).delete(path, True)
    logger.debug("removed the session's checkpoint folder")
    return folder


def spark_from_config(cfg, app_name: str | None = None, *, run_folder=None) -> SparkSession:  # cfg: padan.config.Config
    """The session for `cfg`. With `run_folder` (padan.scratch.RunFolder, the command's temporary
    folder in the lake): checkpoints go there unless `lake.checkpoint_dir` names a folder, and a
    local-mode session padan starts puts its shuffle, spill and temp files there."""
    s = cfg.spark
    checkpoints = cfg.lake.checkpoint_path
    if run_folder is not None and not cfg.lake.checkpoint_dir:
        checkpoints = run_folder.checkpoints
    return get_spark(app_name or s.app_name, s.conf, master=s.master, driver_memory=s.driver_memory,
                     ui_enabled=s.ui_enabled, shuffle_partitions=s.shuffle_partitions,
                     checkpoint_dir=checkpoints, local_dir=run_folder.spark_local if run_folder else None)


def stop_own_session() -> None:
    """Stop the active session if padan started it in this process (a command ending), so that its
    JVM's files are closed before the run folder is removed."""
    if not _OWNED["session"]:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    _OWNED["session"] = False


def submit_jars() -> list[str]:
    """The jars a spark-submit of padan needs with --jars when the cluster lacks them:
    the staged Delta jars and Splink's similarity jar."""
    return [*staged_delta_jars(), splink_jar()]
