"""All lake reads and writes.

Tables are addressed by path (`<root>/<layer>/<entity>`, local or object store) or, when
`lake.catalog` is set, by catalog name (`<catalog>.<prefix><layer>.<entity>`). Tables are created
with explicit schemas and partitioning by their first write (until then they read as empty); every write can be rerun: overwrite of a whole
table, overwrite of one slice (`replaceWhere`), or MERGE on a key. The one append, `insert_absent`,
is for rows whose key the caller has just seen absent at the table's newest version (the ledger).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from padan.errors import SchemaError
from padan.tables import FIXED_BY_NAME, TableSpec

logger = logging.getLogger(__name__)


# Table properties an older table gains before this process's first write to it (`Lake._upgrade`);
# the spec's other properties (statistics columns) are set when a table is created.
LATE_PROPERTIES = frozenset({"delta.checkpointInterval"})


def slice_of(**values: object) -> Column:
    """`col1 = v1 AND col2 = v2 ...` as a column expression (values are literals, never SQL)."""
    if not values:
        raise ValueError("slice_of needs at least one column")
    cond = None
    for name, value in values.items():
        term = F.col(name) == F.lit(value)
        cond = term if cond is None else cond & term
    return cond


def predicate_sql(spark: SparkSession, cond: Column, ddl: str) -> str:
    """The SQL text Spark itself generates for `cond` resolved against a table of columns `ddl`, for
    the APIs that take only text (Delta's `replaceWhere`): literals are quoted and escaped by Spark's
    own printer, whose output its parser reads back to the same literal."""
    analysed = spark.createDataFrame([], ddl).where(cond)._jdf.queryExecution().analyzed()
    return analysed.condition().sql()


def conformed_columns(spec: TableSpec) -> list[Column]:
    """The spec's columns in order, each cast to the spec's type: a frame as the table holds it."""
    return [F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in spec.schema.fields]


@dataclass(frozen=True)
class Lake:
    spark: SparkSession
    root: str
    catalog: str | None = None
    schema_prefix: str = "padan_"
    # Tables this process has seen exist (a table, once created, is not dropped by padan): their
    # existence is not probed again, which would cost a Delta snapshot per write.
    _known: set = field(default_factory=set, compare=False, repr=False)
    # Tables whose table features this process has brought in line with their spec (once each).
    _features_checked: set = field(default_factory=set, compare=False, repr=False)
    # Values derived from a table at one version (`memo`): (table, key) -> (version, value).
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, spark: SparkSession, lake_cfg) -> "Lake":
        root = lake_cfg.root.rstrip("/")
        if "://" not in root and not root.startswith("/"):
            root = os.path.abspath(root)   # a relative root ('./lake') is not a valid Delta location name
        return cls(spark, root, lake_cfg.catalog, lake_cfg.schema_prefix)

    # ---------------------------------------------------------------- addressing

    def location(self, table: str) -> str:
        """Path of a path-addressed table, or the catalog name of a catalog table."""
        layer, entity = table.split(".", 1)
        if self.catalog:
            return f"{self.catalog}.{self.schema_prefix}{layer}.{entity}"
        return f"{self.root}/{layer}/{entity}"

    def path(self, *parts: str) -> str:
        """A non-table location under the lake root (models/, reports/)."""
        return "/".join([self.root, *parts])

    def _delta(self, table: str) -> DeltaTable:
        loc = self.location(table)
        return DeltaTable.forName(self.spark, loc) if self.catalog else DeltaTable.forPath(self.spark, loc)

    def exists(self, table: str) -> bool:
        if table in self._known:
            return True
        loc = self.location(table)
        if self.catalog:
            found = self.spark.catalog.tableExists(loc)
        else:
            # A commit file in the Delta log (one listing) is a table; ask Delta only if the listing failed.
            commits = self._log_versions(table)
            found = bool(commits) if commits is not None else DeltaTable.isDeltaTable(self.spark, loc)
        if found:
            self._known.add(table)
        return found

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """The table (at `version`). A declared table that no run has written yet reads as empty,
        with its declared schema: tables are created by their first write, not probed up front."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        loc = self.location(table)
        try:
            df = reader.table(loc) if self.catalog else reader.load(loc)
        except AnalysisException:
            spec = FIXED_BY_NAME.get(table)
            if spec is None or self.exists(table):
                raise
            return self.spark.createDataFrame([], spec.ddl)
        spec = FIXED_BY_NAME.get(table)
        if spec is not None and spec.added_columns:
            # A table written before these columns were declared: they read as null until a write adds them.
            types = {f.name: f.dataType for f in spec.schema.fields}
            for col in spec.added_columns:
                if col not in df.columns:
                    df = df.withColumn(col, F.lit(None).cast(types[col]))
        return df

    def version(self, table: str) -> int | None:
        if not self.catalog:
            commits = self._log_versions(table)
            if commits is not None:
                return commits[-1] if commits else None
        if not self.exists(table):
            return None
        return int(self._delta(table).history(1).select("version").first()[0])

    # The Delta log of a path table, read as files (the open Delta protocol: `_delta_log/<version
    # zero-padded to 20>.json`, one action per line, the commit's `commitInfo` among them). A table's
    # newest version and a commit's metrics then cost one listing and one small read instead of a
    # Spark job each; `None` means "ask Delta" (catalog tables, or a listing that failed).
    _COMMIT_FILE = re.compile(r"^(\d{20})\.json$")

    def _log_versions(self, table: str) -> list[int] | None:
        try:
            fs, path, _ = self._hadoop_abs(f"{self.location(table)}/_delta_log")
            if not fs.exists(path):
                return []
            names = (str(s.getPath().getName()) for s in fs.listStatus(path))
            return sorted(int(m.group(1)) for n in names if (m := self._COMMIT_FILE.match(n)))
        except Exception:   # noqa: BLE001 -- any trouble: fall back to Delta's own API
            logger.debug("could not list the Delta log of %s", table, exc_info=True)
            return None

    def _commit_info(self, table: str, version: int) -> dict | None:
        fs, path, jvm = self._hadoop_abs(f"{self.location(table)}/_delta_log/{version:020d}.json")
        stream = fs.open(path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            while (line := reader.readLine()) is not None:
                if '"commitInfo"' in line:
                    info = json.loads(line).get("commitInfo")
                    if info is not None:
                        return info
            return None
        finally:
            stream.close()

    def memo(self, table: str, key: str, compute, *, version: int | None = None):
        """`compute(version)` of `table` at its newest version (or `version`), computed once per
        version in this process: a small fact derived from a table (the ledger's rows, its distinct
        batch ids) costs no Spark job while the table has not moved. The version comes from the
        Delta log's listing (no job); `compute` must read the table at the version it is given
        (`read(table, version=...)`), so the value is that version's even if a commit lands
        meanwhile. Path tables only: a catalog table has no free version probe, so it is computed
        each time."""
        if self.catalog:
            return compute(None)
        if version is None:
            versions = self._log_versions(table)
            if versions is None:
                return compute(None)
            version = versions[-1] if versions else None
        hit = self._memo.get((table, key))
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute(version)
        self._memo[(table, key)] = (version, value)
        return value

    def memo_peek(self, table: str, key: str) -> tuple[int | None, object] | None:
        """(version, value) of `key`'s memo when it is of the table's newest version, else None."""
        hit = None if self.catalog else self._memo.get((table, key))
        if hit is None:
            return None
        versions = self._log_versions(table)
        if versions is None or (versions[-1] if versions else None) != hit[0]:
            return None
        return hit

    def remember(self, table: str, key: str, before: int | None, value) -> None:
        """After this process's own write to `table`, which read the table at version `before`:
        keep `value` as the memo of the new version when that write is the only commit since
        (`before` + 1, or 0 for a table the write created); else forget the key, so the next
        `memo` reads the table."""
        versions = None if self.catalog else self._log_versions(table)
        now = versions[-1] if versions else None
        if now is not None and now == (0 if before is None else before + 1):
            self._memo[(table, key)] = (now, value)
        else:
            self._memo.pop((table, key), None)

    def forget(self, table: str, key: str) -> object | None:
        """Drop `key`'s memo of `table`; returns the value it held (None: none)."""
        hit = self._memo.pop((table, key), None)
        return None if hit is None else hit[1]

    def memo_keys(self, table: str, prefix: str) -> list[str]:
        """The memo keys of `table` that start with `prefix`."""
        return [k for t, k in self._memo if t == table and k.startswith(prefix)]

    def versions(self, tables: Iterable[str]) -> dict[str, int]:
        return {t: v for t in tables if (v := self.version(t)) is not None}

    # ---------------------------------------------------------------- creation

    def ensure_table(self, spec: TableSpec) -> None:
        """Create the table with its declared schema and partitioning if it does not exist."""
        if self.exists(spec.name):
            return
        self._create_empty(spec)

    def _create_empty(self, spec: TableSpec) -> None:
        loc = self.location(spec.name)
        self._ensure_schema(spec)
        builder = DeltaTable.createIfNotExists(self.spark)
        builder = builder.tableName(loc) if self.catalog else builder.location(loc)
        builder = builder.addColumns(spec.schema).comment(spec.description)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties:
            builder = builder.property(key, value)
        builder.execute()
        self._known.add(spec.name)
        logger.info("created table %s", spec.name)

    def _ensure_schema(self, spec: TableSpec) -> None:
        """A catalog table's schema (`<catalog>.<prefix><layer>`; names checked by the config)."""
        if self.catalog:
            layer = spec.name.split(".", 1)[0]
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.catalog}.{self.schema_prefix}{layer}")

    def _target(self, spec: TableSpec) -> str:
        """The table as an identifier for DDL: its catalog name, or Delta's `delta.<quoted path>`
        (a backtick in the path doubled, as Spark's identifier quoting requires), never spliced unquoted."""
        if self.catalog:
            return self.location(spec.name)
        return "delta.`" + self.location(spec.name).replace("`", "``") + "`"

    def _upgrade(self, spec: TableSpec) -> None:
        """Before the first write of this process to an existing table, bring a table an older padan
        made in line with its spec: set the spec's LATE_PROPERTIES it lacks, drop the table features the spec no longer has
        (`spec.dropped_features`, e.g. deletion vectors, which the Python `deltalake` reader
        refuses; Delta rewrites the files that use one and commits the protocol without it), and
        add each missing `spec.backfill` column with the value every row implies (one atomic
        rewrite, so no row keeps a null it has a value for, even if the process dies)."""
        late = [(k, v) for k, v in spec.properties if k in LATE_PROPERTIES]
        if spec.name in self._features_checked or not (spec.dropped_features or spec.backfill or late):
            return
        if not self.exists(spec.name):
            self._features_checked.add(spec.name)     # padan creates it as the spec says
            return
        self._align_properties(spec, late)
        if not (spec.dropped_features or spec.backfill):
            self._features_checked.add(spec.name)
            return
        if spec.dropped_features:
            present = set(self._delta(spec.name).detail().select("tableFeatures").first()[0] or [])
            for feature in spec.dropped_features:
                if feature in present:
                    self.spark.sql(f"ALTER TABLE {self._target(spec)} DROP FEATURE {feature}")   # names from code
                    logger.info("%s: dropped table feature %s (every Delta reader can open the table)",
                                spec.name, feature)
        table = self._delta(spec.name).toDF()
        fill = [(c, sql) for c, sql in spec.backfill if c not in table.columns]
        if fill:
            rows = table
            for col, sql in fill:
                rows = rows.withColumn(col, F.expr(sql))
            writer = rows.write.format("delta").mode("overwrite").option("mergeSchema", "true")
            loc = self.location(spec.name)
            writer.saveAsTable(loc) if self.catalog else writer.save(loc)
            logger.info("%s: added column(s) %s to every row", spec.name, [c for c, _ in fill])
        self._features_checked.add(spec.name)

    def _align_properties(self, spec: TableSpec, properties: list[tuple[str, str]]) -> None:
        """Set `properties` (of the spec, LATE_PROPERTIES) where a path table made by an older padan
        lacks them: read from the newest commit's checksum file (no Spark job); a table without one
        is left as it is."""
        if self.catalog or not properties:
            return
        versions = self._log_versions(spec.name)
        if not versions:
            return
        try:
            fs, path, jvm = self._hadoop_abs(f"{self.location(spec.name)}/_delta_log/{versions[-1]:020d}.crc")
            if not fs.exists(path):
                return
            stream = fs.open(path)
            try:
                reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
                text = "".join(iter(reader.readLine, None))
            finally:
                stream.close()
            have = (json.loads(text).get("metadata") or {}).get("configuration") or {}
        except Exception:   # noqa: BLE001 -- an unreadable checksum file: leave the table as it is
            logger.debug("could not read the checksum file of %s", spec.name, exc_info=True)
            return
        missing = [(k, v) for k, v in properties if have.get(k) != v]
        if missing:
            # keys and values are padan's code (TableSpec), never input; values quoted as SQL strings
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in missing)
            self.spark.sql(f"ALTER TABLE {self._target(spec)} SET TBLPROPERTIES ({settings})")
            logger.info("%s: set table properties %s", spec.name, [k for k, _ in missing])

    def _create_with(self, df: DataFrame, spec: TableSpec, tag: str) -> bool:
        """Create the table by its first write, in one commit (schema, partitioning, properties,
        comment and rows together): a third of the Spark jobs of creating it empty and then writing.
        False when another writer created it first (the caller then writes as to any table)."""
        self._ensure_schema(spec)
        writer = df.writeTo(self._target(spec)).using("delta").tableProperty("comment", spec.description)
        if spec.partition_by:
            writer = writer.partitionedBy(*[F.col(c) for c in spec.partition_by])
        for key, value in spec.properties:
            writer = writer.tableProperty(key, value)
        # CREATE takes no per-write userMetadata option: the session's commit-info setting tags it.
        conf_key = "spark.databricks.delta.commitInfo.userMetadata"
        previous = self.spark.conf.get(conf_key, None)
        self.spark.conf.set(conf_key, tag)
        try:
            writer.create()
        except AnalysisException as exc:
            if "ALREADY_EXISTS" not in (exc.getCondition() or "") and "already exists" not in str(exc):
                raise
            return False
        finally:
            if previous is None:
                self.spark.conf.unset(conf_key)
            else:
                self.spark.conf.set(conf_key, previous)
        self._known.add(spec.name)
        logger.info("created table %s", spec.name)
        return True

    def _conform(self, df: DataFrame, spec: TableSpec) -> DataFrame:
        """Select the spec's columns in order with the spec's types; fail on missing columns."""
        missing = [f.name for f in spec.schema.fields if f.name not in df.columns]
        if missing:
            raise SchemaError(f"writing {spec.name}: missing column(s) {missing}")
        return df.select(conformed_columns(spec))

    # ---------------------------------------------------------------- writes

    def overwrite(self, df: DataFrame, spec: TableSpec, *, replace_where: Column | None = None,
                  quiet: bool = False) -> dict[str, int]:
        """Replace the whole table, or only the slice matching `replace_where`: a column expression
        (`padan.ids.slice_of(run_id=...)`), never SQL text, so no value can change its meaning."""
        if replace_where is not None and not isinstance(replace_where, Column):
            raise TypeError("replace_where takes a column expression (padan.ids.slice_of), not SQL text")
        # A tag on this write's commit: a write that adds and removes nothing makes no commit at all,
        # and the newest commit's metrics would then be another write's.
        tag = f"padan-write:{uuid.uuid4().hex}"
        rows = self._conform(df, spec)
        self._upgrade(spec)
        if self.exists(spec.name) or not self._create_with(rows, spec, tag):
            writer = rows.write.format("delta").mode("overwrite")
            if spec.added_columns:
                # A table made before these columns were declared gains them by this write (only
                # declared columns reach it: `_conform` selects exactly the spec's).
                writer = writer.option("mergeSchema", "true")
            if replace_where is not None:
                writer = writer.option("replaceWhere", predicate_sql(self.spark, replace_where, spec.ddl))
            writer = writer.option("userMetadata", tag)
            loc = self.location(spec.name)
            writer.saveAsTable(loc) if self.catalog else writer.save(loc)
        if quiet:
            return {}
        metrics = self.last_operation_metrics(spec.name, tag=tag)
        logger.info("wrote %s (%s) rows=%s", spec.name, "one slice" if replace_where is not None else "whole table",
                    metrics.get("numOutputRows"))
        return metrics

    def insert_absent(self, df: DataFrame, spec: TableSpec, *, read_version: int | None) -> str | None:
        """Append rows whose key the caller read as absent from the table at `read_version` (None:
        no table), when that is still the newest version (a log listing); False, writing nothing,
        when the table has moved since (the caller then replaces its slice as usual). A blind
        append needs no file list of the table, where a `replaceWhere` reconstructs the snapshot
        and scans for the slice's files: on a small ledger, 1 Spark job instead of 4. As
        rerunnable as the slice overwrite: a rerun reads the row and replaces it. The lake lock
        keeps other writers out between the read and the append. Returns the commit's tag (its
        `userMetadata`, for `replace_own_append`), or None when nothing was written."""
        if self.catalog:
            return None
        versions = self._log_versions(spec.name)
        if versions is None or (versions[-1] if versions else None) != read_version:
            return None
        tag = f"padan-write:{uuid.uuid4().hex}"
        rows = self._conform(df, spec)
        self._upgrade(spec)
        if read_version is None:
            # None: another writer created it meanwhile
            return tag if self._create_with(rows, spec, tag) else None
        writer = rows.write.format("delta").mode("append").option("userMetadata", tag)
        if spec.added_columns:
            writer = writer.option("mergeSchema", "true")
        writer.save(self.location(spec.name))
        return tag

    def replace_own_append(self, df: DataFrame, spec: TableSpec, *, tag: str, slice_values: dict) -> bool:
        """Replace the rows of this process's own `insert_absent` (the commit tagged `tag`) with
        `df`, in one commit that removes exactly the files that append added and adds `df`'s:
        no snapshot reconstruction and no scan for the slice's files, which a `replaceWhere` costs
        (on the ledger, a stage's `running` -> `succeeded`: 1 Spark job, the new row's file, instead of 8).

        Only while that append is still the table's newest commit (a log listing), added files and
        nothing else, and the statistics of each of its files show only the slice's values in the
        slice's columns (`slice_values`, columns to literals): then those files hold rows of the
        slice only, and, as the append was of rows absent before, all of them. `df` must hold rows
        of the slice only (the caller's rows, as a `replaceWhere` of the slice would require); the
        result is that `replaceWhere`'s. False, writing nothing, otherwise (the caller then
        replaces the slice as usual, also when this commit fails). Through Delta's transaction API
        (`DeltaLog.startTransaction`, `writeFiles`, `commit`), as Delta's own writes do: the commit
        is a `WRITE` (Overwrite) in the table's history with the slice as its predicate, and a
        concurrent commit that removed the same files makes it fail, as it would a `replaceWhere`."""
        if self.catalog:
            return False
        versions = self._log_versions(spec.name)
        if not versions:
            return False
        version = versions[-1]
        adds = self._own_append_adds(spec.name, version, tag, slice_values)
        if not adds:
            return False
        rows = self._conform(df, spec)
        try:
            return self._commit_replacing(rows, spec, version, adds, slice_values)
        except Exception as exc:   # noqa: BLE001 -- a conflict, or Delta's API moved: the slice overwrite is
            # right whatever this attempt left (it replaces the slice's rows, whichever they are)
            logger.warning("%s: replacing this process's own append failed (%s); replacing its slice instead",
                           spec.name, type(exc).__name__)
            return False

    def _commit_replacing(self, rows: DataFrame, spec: TableSpec, version: int, adds: list[str],
                          slice_values: dict) -> bool:
        """The commit of `replace_own_append`: remove `adds` (of commit `version`, the newest) and add `rows`."""
        jvm = self.spark.sparkContext._jvm
        delta = jvm.org.apache.spark.sql.delta
        scala_none = jvm.scala.Option.empty()
        log = delta.DeltaLog.forTable(self.spark._jsparkSession, self.location(spec.name))
        txn = log.startTransaction()
        if txn.readVersion() != version:
            return False
        known = set(txn.metadata().schema().fieldNames())
        if any(f.name not in known for f in spec.schema.fields):
            return False            # a table from before an added column: the slice overwrite evolves it
        txn.readWholeTable()        # as a replaceWhere reads: a concurrent rewrite of the table conflicts
        now = int(time.time() * 1000)
        actions = txn.writeFiles(rows._jdf)
        for line in adds:
            actions = actions.appended(delta.actions.Action.fromJson(line).removeWithTimestamp(now, True))
        predicate = jvm.scala.Option.apply(predicate_sql(self.spark, slice_of(**slice_values), spec.ddl))
        operation = delta.DeltaOperations.Write(jvm.org.apache.spark.sql.SaveMode.Overwrite, scala_none, predicate,
                                                jvm.scala.Option.apply(f"padan-write:{uuid.uuid4().hex}"),
                                                scala_none, scala_none, scala_none, scala_none, scala_none)
        txn.commit(actions, operation)
        return True

    def _own_append_adds(self, table: str, version: int, tag: str, slice_values: dict) -> list[str]:
        """The `add` actions (JSON lines) of commit `version` when it is the blind append tagged
        `tag` (commit info: WRITE in Append mode), holds nothing but added files, and each file's
        statistics (min = max = the value, no nulls) put all its rows in the slice; else []."""
        fs, path, jvm = self._hadoop_abs(f"{self.location(table)}/_delta_log/{version:020d}.json")
        stream = fs.open(path)
        adds, info, other = [], None, False
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            while (line := reader.readLine()) is not None:
                action = json.loads(line)
                if "add" in action:
                    if not self._stats_in_slice(action["add"].get("stats"), slice_values):
                        return []
                    adds.append(line)
                elif "commitInfo" in action:
                    info = action["commitInfo"]
                else:
                    other = True        # a remove, metadata, protocol, ...: not a plain append
        finally:
            stream.close()
        if other or info is None or info.get("userMetadata") != tag or info.get("operation") != "WRITE" \
                or (info.get("operationParameters") or {}).get("mode") != "Append":
            return []
        return adds

    @staticmethod
    def _stats_in_slice(stats_json: str | None, slice_values: dict) -> bool:
        """Whether a data file's Delta statistics show every row holding the slice's values."""
        try:
            stats = json.loads(stats_json or "")
        except ValueError:
            return False
        low, high, nulls = (stats.get(k) or {} for k in ("minValues", "maxValues", "nullCount"))
        return int(stats.get("numRecords") or 0) > 0 and all(
            c in low and c in high and low[c] == v and high[c] == v and nulls.get(c, 1) == 0
            for c, v in slice_values.items())

    def merge(self, df: DataFrame, spec: TableSpec, keys: Sequence[str], *, delete_unmatched_where: str | None = None,
              update_condition: str | None = None, delete_flag: str | None = None) -> dict[str, int]:
        """MERGE on `keys`: update matches, insert new rows; optionally delete target rows in a
        slice that the source no longer has (`delete_unmatched_where`, SQL on target `t`).
        `delete_flag`: a boolean column of `df` (not of the table) marking source rows that delete
        the target row of their key instead (and insert nothing): upserts and deletes in one commit."""
        self.ensure_table(spec)
        self._upgrade(spec)
        source = self._conform(df, spec)
        if delete_flag is not None:
            if spec.added_columns:
                raise ValueError(f"{spec.name}: delete_flag takes a table without added columns")
            source = df.select(*conformed_columns(spec), F.col(f"`{delete_flag}`").cast("boolean"))
        cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        merger = self._delta(spec.name).alias("t").merge(source.alias("s"), cond)
        if delete_flag is not None:
            flag = f"s.`{delete_flag}`"
            columns = {c: f"s.`{c}`" for c in spec.schema.fieldNames()}
            merger = merger.whenMatchedDelete(condition=flag)
            merger = merger.whenMatchedUpdate(condition=update_condition, set=columns)
            merger = merger.whenNotMatchedInsert(condition=f"NOT {flag}", values=columns)
        else:
            merger = merger.whenMatchedUpdateAll(condition=update_condition).whenNotMatchedInsertAll()
        if spec.added_columns:
            # A table made before these columns were declared gains them by this MERGE (only
            # declared columns reach it: `_conform` selects exactly the spec's).
            merger = merger.withSchemaEvolution()
        if delete_unmatched_where:
            merger = merger.whenNotMatchedBySourceDelete(condition=delete_unmatched_where)
        merger.execute()
        metrics = self.last_operation_metrics(spec.name)
        logger.info("merged into %s: inserted=%s updated=%s deleted=%s", spec.name,
                    metrics.get("numTargetRowsInserted"), metrics.get("numTargetRowsUpdated"),
                    metrics.get("numTargetRowsDeleted"))
        return metrics

    def last_operation_metrics(self, table: str, *, tag: str | None = None) -> dict[str, int]:
        """Operation metrics of the newest commit, or with `tag` of the commit that write tagged
        (`userMetadata`) among the newest 20: when there is none the write committed nothing, so it
        wrote no rows. Delta leaves `numOutputRows` out of a commit that wrote no file: 0 then."""
        versions = None if self.catalog else self._log_versions(table)
        if versions:
            for version in reversed(versions[-20:] if tag is not None else versions[-1:]):
                info = self._commit_info(table, version)
                if info is not None and (tag is None or info.get("userMetadata") == tag):
                    return self._int_metrics(info.get("operationMetrics"), tag)
            if tag is not None:
                return {"numOutputRows": 0, "numFiles": 0}
        if tag is None:
            row = self._delta(table).history(1).select("operationMetrics").first()
        else:
            row = (self._delta(table).history(20).where(F.col("userMetadata") == tag)
                   .select("operationMetrics").first())
            if row is None:
                return {"numOutputRows": 0, "numFiles": 0}
        return self._int_metrics(row[0], tag)

    @staticmethod
    def _int_metrics(metrics: dict | None, tag: str | None) -> dict[str, int]:
        out: dict[str, int] = {"numOutputRows": 0} if tag is not None else {}
        for k, v in (metrics or {}).items():
            try:
                out[k] = int(v)
            except (TypeError, ValueError):
                continue
        return out

    def _hadoop(self, relative_path: str):
        """(Hadoop FileSystem, Path, JVM view) of a location under the lake root."""
        return self._hadoop_abs(self.path(relative_path))

    def _hadoop_abs(self, location: str):
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(location)
        return path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()), path, jvm

    def write_bytes(self, relative_path: str, data: bytes) -> str:
        """Write a small file (model JSON, report HTML) under the lake root through Hadoop FS."""
        fs, path, _ = self._hadoop(relative_path)
        out = fs.create(path, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return self.path(relative_path)

    def read_text(self, relative_path: str) -> str | None:
        fs, path, jvm = self._hadoop(relative_path)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            chunks = []
            while (line := reader.readLine()) is not None:
                chunks.append(line)
            return "\n".join(chunks)
        finally:
            stream.close()

    def list_dir(self, relative_path: str) -> list[str]:
        fs, path, _ = self._hadoop(relative_path)
        if not fs.exists(path):
            return []
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(path))
