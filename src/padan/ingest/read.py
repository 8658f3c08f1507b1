"""Read a register's files under its source contract: check first, then read every line.

Nothing is dropped here: a line that does not parse is kept with `_malformed = true` and its raw
text, so standardisation can reject it with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from padan.config import SourceContract
from padan.errors import ContractError
from padan.ingest import derive
from padan.ledger import safe_message

logger = logging.getLogger(__name__)

_LINE_SEP = "\u0001"   # a separator that never occurs: read each physical line as one value
_NO_QUOTE = "\u0000"


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int
    modified_ms: int


@dataclass(frozen=True)
class RawRead:
    source: str
    files: tuple[InputFile, ...]
    columns: tuple[str, ...]    # raw columns kept (the contract's mapped columns), in contract order
    rows: DataFrame             # raw columns + _source_file, _line, _raw_text, _malformed (+ derived fields)


def _real_path(status) -> str | None:
    """The real (symbolic links resolved) path of a local file or folder; None for other file
    systems (object stores have no links; HDFS links are off by default)."""
    uri = status.getPath().toUri()
    if uri.getScheme() not in (None, "file"):
        return None
    return os.path.realpath(uri.getPath())


def list_files(spark: SparkSession, source: str, path: str) -> list[InputFile]:
    """Data files under `path` (a file, a folder, or a glob), skipping _-/.-prefixed names.

    A folder or file reached a second time (a symbolic link looping back to a parent folder, or a
    second link to the same folder or file) is a `ContractError`: its rows would be read twice."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(hconf)
    statuses = fs.globStatus(hpath)
    if statuses is None or len(statuses) == 0:
        raise ContractError(source, "no input found at the configured path", file=path)
    out: list[InputFile] = []
    seen: dict[str, str] = {}   # real path -> the path it was first reached by

    def walk(status) -> None:
        name = status.getPath().getName()
        if name.startswith(("_", ".")):
            return
        real = _real_path(status)
        if real is not None:
            here = str(status.getPath().toString())
            if real in seen:
                kind = "folder" if status.isDirectory() else "file"
                raise ContractError(source, f"this {kind} is the same as '{seen[real]}' (a symbolic link loop or a "
                                            f"second link to it): its rows would be read twice; remove the link",
                                    file=here)
            seen[real] = here
        if status.isDirectory():
            for child in fs.listStatus(status.getPath()):
                walk(child)
        else:
            out.append(InputFile(str(status.getPath().toString()), int(status.getLen()),
                                 int(status.getModificationTime())))

    for st in statuses:
        walk(st)
    return sorted(out, key=lambda f: f.path)


def batch_fingerprint(source: str, files: list[InputFile]) -> str:
    """A batch id stable for the same files: source, file names, sizes and modification times."""
    h = hashlib.sha256(source.encode())
    for f in files:
        h.update(f"{f.path.rsplit('/', 1)[-1]}|{f.size}|{f.modified_ms}\n".encode())
    return f"{source}-{h.hexdigest()[:16]}"


def _line_reader(spark: SparkSession, contract: SourceContract, paths: list[str]) -> DataFrame:
    return (spark.read.schema("value STRING").option("sep", _LINE_SEP).option("quote", _NO_QUOTE)
            .option("escape", _NO_QUOTE).option("header", False).option("encoding", contract.csv.encoding)
            .option("ignoreLeadingWhiteSpace", False).option("ignoreTrailingWhiteSpace", False)
            .option("mode", "PERMISSIVE").csv(paths))


def _csv_header(spark: SparkSession, source: str, contract: SourceContract, f: InputFile) -> list[str] | None:
    first = _line_reader(spark, contract, [f.path]).limit(1).collect()
    if not first or first[0][0] is None:
        return None  # an empty file: no header, no rows
    text = first[0][0]
    encoding = contract.csv.encoding
    if text.startswith(("\ufffd\ufffd", "\u00ff\u00fe", "\u00fe\u00ff")) or "\x00" in text:
        raise ContractError(source, f"the file looks like UTF-16 (a UTF-16 byte-order mark or NUL bytes in the header), "
                                    f"but the contract declares encoding '{encoding}'; convert it to UTF-8", file=f.path)
    if "\ufffd" in text or any("\u0080" <= ch <= "\u009f" for ch in text):
        raise ContractError(source, f"the header has bytes that are not valid {encoding} (line 1); set the contract's "
                                    f"csv.encoding to the file's encoding or convert the file", file=f.path)
    # str.split on the literal delimiter keeps empty fields, as Spark's split (limit -1) did: no job
    parsed = text.lstrip("\ufeff").split(contract.csv.delimiter)   # a UTF-8 byte-order mark starts the file
    return [c.strip().strip(contract.csv.quote).strip().lstrip("\ufeff") for c in parsed]


def _check_unique_header(source: str, file: str, cols: list[str]) -> None:
    """Two columns of one name (compared as Spark does, ignoring case) cannot be told apart."""
    first: dict[str, int] = {}
    for i, c in enumerate(cols, 1):
        key = c.lower()
        if key in first:
            same = "" if cols[first[key] - 1] == c else f" (as '{cols[first[key] - 1]}'; Spark ignores case)"
            raise ContractError(source, f"the header names this column twice{same}, at positions {first[key]} and {i}; "
                                        f"rename one", file=file, column=c)
        first[key] = i


def _structured_columns(spark: SparkSession, source: str, contract: SourceContract, f: InputFile) -> list[str]:
    """A Parquet/JSON/Delta file's columns; a file Spark cannot read (zero bytes, not Parquet, a
    type Spark refuses such as nanosecond timestamps) is a `ContractError` naming it and Spark's
    error class (not Spark's message, which can quote values)."""
    try:
        return spark.read.format(contract.format).load(f.path).columns
    except Exception as exc:   # Spark's analysis and I/O errors alike
        what = safe_message(exc)
        java = getattr(exc, "java_exception", None)   # a Py4JJavaError: the Java exception's class says more
        if java is not None:
            try:
                what += f" {java.getClass().getName()}"
            except Exception:   # noqa: BLE001  the class name is a nicety; the message stands without it
                pass
        raise ContractError(source, f"the file cannot be read as {contract.format} ({what}; "
                                    f"{'zero bytes' if f.size == 0 else f'{f.size} bytes'})", file=f.path) from exc


def _regex_escape(s: str) -> str:
    return re.escape(s)


def check_contract(spark: SparkSession, source: str, contract: SourceContract, files: list[InputFile]) -> dict[str, list[str]]:
    """Raise `ContractError` before anything is written if a file lacks a mapped column (required
    or not: a mapped column that is absent would otherwise read as null in every row; un-map the
    field with `columns: {field: null}` instead). Returns each file's header (CSV) or schema columns."""
    headers: dict[str, list[str]] = {}
    required_raw = {contract.columns[f]: f for f in contract.required if f in contract.columns}
    mapped_raw: dict[str, str] = {}
    for field, raw_col in contract.columns.items():
        mapped_raw.setdefault(raw_col, field)
    for raw_col, field in derive.raw_inputs(contract).items():   # what derived fields read must exist too
        mapped_raw.setdefault(raw_col, f"{field}, derived")
    for f in files:
        if contract.format == "csv":
            if not contract.csv.header:
                raise ContractError(source, "CSV without a header row is not supported; set csv.header: true",
                                    file=f.path)
            cols = _csv_header(spark, source, contract, f)
            if cols is None:
                headers[f.path] = []
                continue
            if len(cols) == 1 and len(required_raw) > 1:
                raise ContractError(source, f"the header has one column: is the delimiter "
                                            f"'{contract.csv.delimiter}' right?", file=f.path,
                                    column=next(iter(required_raw)))
        else:
            cols = _structured_columns(spark, source, contract, f)
        _check_unique_header(source, f.path, cols)
        for raw_col, field in required_raw.items():
            if raw_col not in cols:
                raise ContractError(source, f"required column is missing (canonical field '{field}')",
                                    file=f.path, column=raw_col)
        for raw_col, field in mapped_raw.items():
            if raw_col not in cols:
                raise ContractError(source, f"mapped column is missing (canonical field '{field}'; map it to "
                                            f"null in the contract if this register has no such column)",
                                    file=f.path, column=raw_col)
        headers[f.path] = cols
    return headers


def read_source(spark: SparkSession, source: str, contract: SourceContract, files: list[InputFile] | None = None) -> RawRead:
    """Check the contract, then read every line/record of every file."""
    if files is None:
        files = list_files(spark, source, contract.path)
    if not files:
        raise ContractError(source, "no data files found", file=contract.path)
    headers = check_contract(spark, source, contract, files)
    raw_cols = tuple(dict.fromkeys([*contract.columns.values(), *derive.raw_inputs(contract)]))
    if contract.format == "csv":
        rows = _read_csv(spark, contract, files, headers, raw_cols)
    else:
        rows = _read_structured(spark, contract, files, raw_cols)
    return RawRead(source, tuple(files), raw_cols, derive.with_derived(rows, contract))


def _read_csv(spark: SparkSession, contract: SourceContract, files: list[InputFile], headers: dict[str, list[str]],
              raw_cols: tuple[str, ...]) -> DataFrame:
    """Parse CSV line by line so each row keeps its file, line number and raw text.

    Lines are numbered from 1 (the header) counting non-blank lines; records spanning several
    lines (newlines inside quotes) are not supported and show up as malformed lines.
    """
    non_empty = [f for f in files if headers.get(f.path)]
    delim, quote = contract.csv.delimiter, contract.csv.quote
    if not non_empty:
        schema = ", ".join([*(f"`{c}` STRING" for c in raw_cols), "_source_file STRING", "_line BIGINT",
                            "_raw_text STRING", "_malformed BOOLEAN"])
        return spark.createDataFrame([], schema)
    # Files with the same header are parsed together; usually there is one header for all.
    by_header: dict[tuple[str, ...], list[str]] = {}
    for f in non_empty:
        by_header.setdefault(tuple(headers[f.path]), []).append(f.path)
    parts = []
    for header, paths in by_header.items():
        lines = _line_reader(spark, contract, paths).select(
            F.col("value").alias("_raw_text"),
            F.col("_metadata.file_path").alias("_source_file"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_mono"),
        )
        # Line numbers without a global sort: rows of one file block are contiguous within one
        # partition, so line = lines in earlier blocks of the file + position within the block.
        blocks = lines.groupBy("_source_file", "_block").agg(F.count("*").alias("_n"), F.min("_mono").alias("_first"))
        w = Window.partitionBy("_source_file").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
        blocks = blocks.withColumn("_before", F.coalesce(F.sum("_n").over(w), F.lit(0)))
        lines = (lines.join(F.broadcast(blocks.select("_source_file", "_block", "_before", "_first")),
                            ["_source_file", "_block"])
                 .withColumn("_line", F.col("_before") + F.col("_mono") - F.col("_first") + 1)
                 .where(F.col("_line") > 1))  # line 1 is the header
        ddl = ", ".join(f"`{c}` STRING" for c in header)
        opts = {"sep": delim, "quote": quote, "escape": contract.csv.escape, "mode": "PERMISSIVE",
                "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}
        parsed = lines.withColumn("_p", F.from_csv(F.col("_raw_text"), ddl, opts))
        # A line is malformed when, outside quoted sections, its field count differs from the
        # header's, or a quote is left open.
        unquoted = F.regexp_replace(F.col("_raw_text"), f'{_regex_escape(quote)}(?:[^{_regex_escape(quote)}]|{_regex_escape(quote)}{_regex_escape(quote)})*{_regex_escape(quote)}', "")
        parsed = parsed.withColumn("_unquoted", unquoted)   # computed once, read twice below
        n_fields = F.size(F.split(F.col("_unquoted"), _regex_escape(delim), -1))
        open_quote = F.instr(F.col("_unquoted"), quote) > 0
        malformed = (n_fields != len(header)) | open_quote
        select = [F.col("_p").getField(c).alias(c) if c in header else F.lit(None).cast("string").alias(c)
                  for c in raw_cols]
        parts.append(parsed.select(*select, "_source_file", "_line", "_raw_text", malformed.alias("_malformed")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _read_structured(spark: SparkSession, contract: SourceContract, files: list[InputFile],
                     raw_cols: tuple[str, ...]) -> DataFrame:
    paths = [f.path for f in files]
    df = spark.read.format(contract.format).load(paths if contract.format != "delta" else paths[0])
    line = F.col("_metadata.row_index") + 1 if contract.format == "parquet" else F.lit(None).cast("bigint")
    source_file = F.col("_metadata.file_path") if contract.format != "delta" else F.lit(contract.path)
    select = [(F.col(f"`{c}`").cast("string") if c in df.columns else F.lit(None).cast("string")).alias(c)
              for c in raw_cols]
    return df.select(*select, source_file.alias("_source_file"), line.cast("bigint").alias("_line"),
                     F.to_json(F.struct(*[F.col(f"`{c}`") for c in raw_cols if c in df.columns])).alias("_raw_text"),
                     F.lit(False).alias("_malformed"))
