"""The quality profile of one standardised source batch, in two Spark jobs, and the row counts of
an ingest from the writes' own metrics.

Aggregates only: no personal values leave Spark.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.standardise.columns import NIK_ISSUES
from padan.standardise.persons import REASON_CODES
from padan.tables import QUALITY

logger = logging.getLogger(__name__)

FIELDS = ("nik", "name_clean", "birth_date", "sex", "no_kk", "phone", "email", "province_code", "kabupaten", "desil")


def quality_rows(std: DataFrame) -> list[tuple[str, str | None, float]]:
    """(metric, field, value) per source batch: rows, rejects by reason, null share per field,
    valid-NIK share, placeholder birth dates, duplicate NIKs.

    One aggregate over all rows (reasons and NIK issues as conditional counts over their fixed
    code lists: a row lists a reason at most once) and one grouping by valid NIK; a reason or
    issue that no row has gets no row, as before."""
    ok = F.size("reasons") == 0
    aggs = [F.count("*").alias("rows"), F.sum(ok.cast("long")).alias("standardised"),
            F.sum((~ok).cast("long")).alias("rejected"),
            F.avg(F.col("nik_valid").cast("double")).alias("valid_nik_share"),
            F.avg(F.col("dob_placeholder").cast("double")).alias("dob_placeholder_share"),
            F.avg(F.col("nik_dob_mismatch").cast("double")).alias("nik_dob_mismatch_share")]
    aggs += [F.avg(F.col(f).isNull().cast("double")).alias(f"null_share:{f}") for f in FIELDS]
    aggs += [F.sum(F.array_contains("reasons", r).cast("long")).alias(f"rejects_by_reason:{r}") for r in REASON_CODES]
    aggs += [F.sum((~F.col("nik_valid") & (F.col("nik_issue") == i)).cast("long")).alias(f"invalid_nik_by_issue:{i}")
             for i in NIK_ISSUES]
    row = std.agg(*aggs).first().asDict()
    dup_nik = (std.where(F.col("nik_valid")).groupBy("nik").count().where(F.col("count") > 1)
               .agg(F.coalesce(F.sum("count"), F.lit(0))).first()[0])
    rows = []
    for k, v in row.items():
        metric, _, fld = k.partition(":")
        if metric in ("rejects_by_reason", "invalid_nik_by_issue") and not v:
            continue
        rows.append((metric, fld or None, float(v or 0)))
    rows.append(("records_sharing_a_valid_nik", None, float(dup_nik or 0)))
    return rows


def quality_profile(std: DataFrame, source: str, batch_id: str) -> DataFrame:
    """`quality_rows` as `ops.quality` rows (run id = batch id)."""
    rows = quality_rows(std)
    return std.sparkSession.createDataFrame([(batch_id, source, batch_id, m, f, v) for m, f, v in rows], QUALITY.ddl)


def log_quality(rows: list[tuple[str, str | None, float]], source: str) -> None:
    q = {(m, f): v for m, f, v in rows}
    logger.info("quality %s: rows=%d standardised=%d rejected=%d valid_nik=%.1f%% dob_placeholder=%.1f%% "
                "records_sharing_nik=%d", source, q.get(("rows", None), 0), q.get(("standardised", None), 0),
                q.get(("rejected", None), 0), 100 * q.get(("valid_nik_share", None), 0),
                100 * q.get(("dob_placeholder_share", None), 0), q.get(("records_sharing_a_valid_nik", None), 0))
    reasons = {f: int(v) for (m, f), v in q.items() if m == "rejects_by_reason"}
    if reasons:
        logger.info("rejects %s by reason: %s", source, reasons)


def rows_written(metrics: Mapping[str, int], recount: Callable[[], int]) -> int:
    """Rows a Delta write landed, from its operation metrics; `recount` (a read of the slice) only
    when the metrics lack the figure."""
    n = metrics.get("numOutputRows")
    return int(n) if n is not None else recount()
