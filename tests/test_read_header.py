"""A CSV file's header is read on the driver (`padan.ingest.read._first_value`, no Spark job): it
must be exactly the first value Spark's own line reader (`_line_reader`, what the rows are read
with) gives for the same file, whatever the file's bytes: byte-order marks, blank first lines, line
ends, bytes the encoding cannot decode, compression, a declared single-byte encoding."""

from __future__ import annotations

import gzip
from types import SimpleNamespace

import pytest

from padan.ingest.read import InputFile, _first_value, _line_reader

HEADER = "nik,nama,tgl_lahir"
CASES = {
    "plain": (HEADER + "\n1,A,2\n").encode(),
    "crlf": (HEADER + "\r\n1,A,2\r\n").encode(),
    "cr only": (HEADER + "\r1,A,2\r").encode(),
    "utf8 bom": b"\xef\xbb\xbf" + (HEADER + "\n1,A,2\n").encode(),
    "bom then blank line": b"\xef\xbb\xbf\n" + (HEADER + "\n").encode(),
    "blank lines first": ("\n\n   \n\t\n" + HEADER + "\n1,A,2\n").encode(),
    "spaces around": ("  " + HEADER + "  \n").encode(),
    "empty": b"",
    "only blank lines": b"\n\n  \n",
    "no line end": HEADER.encode(),
    "utf16 le bom": (HEADER + "\n").encode("utf-16"),
    "utf16 be no bom": (HEADER + "\n").encode("utf-16-be"),
    "invalid bytes": b"nik,n\xe9ma,\xff\xfetgl\n1,A,2\n",
    "control separator": ("nik\u0001nama,tgl\n").encode(),
    "starts with control separator": ("\u0001nik,nama\n").encode(),
    "non-ascii": "nik,nama_lengkap,tgl_lahir_ibu\u00e9\n".encode(),
}


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1"])
def test_the_driver_reads_the_first_value_spark_reads(spark, tmp_path, encoding):
    contract = SimpleNamespace(csv=SimpleNamespace(encoding=encoding))
    files = {}
    for i, (name, data) in enumerate(CASES.items()):
        path = tmp_path / f"f{i}.csv"
        path.write_bytes(data)
        files[name] = path
    zipped = tmp_path / "z.csv.gz"
    zipped.write_bytes(gzip.compress(b"\xef\xbb\xbf\n" + (HEADER + "\n1,A,2\n").encode()))
    files["gzip"] = zipped
    wrong = {}
    for name, path in files.items():
        f = InputFile(str(path), path.stat().st_size, 0)
        spark_rows = _line_reader(spark, contract, [f.path]).limit(1).collect()
        expected = spark_rows[0][0] if spark_rows else None
        got = _first_value(spark, contract, f)
        if expected is not None and "\x00" in expected:
            # Spark's line reader takes NUL for its (unused) quote character and may double it; a
            # header holding NUL stops the ingest either way (`_csv_header`: UTF-16 under a UTF-8 contract).
            same = got is not None and "\x00" in got
        else:
            same = got == expected
        if not same:
            wrong[name] = (ascii(got), ascii(expected))
    assert wrong == {}
