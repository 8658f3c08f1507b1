"""Keyed pseudonymisation (contract option `pseudonymise`): HMAC-SHA256 in Spark SQL equals Python's
`hmac`; what is derived from an identifier equals the clear run's; a pseudonymised pipeline leaves
no clear NIK, KK, phone or e-mail, nor the key or its pads, in any lake file, log or event log; the
key is checked before anything runs; the same key links across sources, another key does not."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from padan import cli, config
from tests.conftest import REPO, install_extracts

KEY = "padan-test-pseudonym-key: not a secret, only for tests 0123456789"
OTHER_KEY = "another-test-key-of-enough-length-for-hmac-0123456789"
ENV = "PADAN_TEST_PSEUDONYM_KEY"
IDENTIFIERS = ("nik", "no_kk", "phone", "email")


def _hmac(key: str | bytes, value: str) -> str:
    return hmac.new(key.encode() if isinstance(key, str) else key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _overlay(folder: Path, data: Path | None, option: str | None, sources=("p3ke", "prakerja")) -> Path:
    """A config folder overlaying padan's base: small Spark, the fixture paths, `option` as each
    source's `pseudonymise` (YAML flow text) when given."""
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    (folder / "spark.yml").write_text("spark: {master: 'local[2]', driver_memory: 2g, shuffle_partitions: 2}\n")
    (folder / "model.yml").write_text("model: {training: {u_max_pairs: 50000}}\n")
    for s in sources:
        lines = [f"path: {data / s}"] if data else []
        if option:
            lines.append(f"pseudonymise: {option}")
        (folder / "sources" / f"{s}.yml").write_text("\n".join(lines) + "\n")
    return folder


# ---------------------------------------------------------------- the key, checked before anything runs


@pytest.mark.parametrize("case", ["env-unset", "env-short", "file-missing", "file-short"])
def test_a_missing_or_short_key_stops_the_command_with_exit_2(tmp_path, monkeypatch, capsys, case):
    short = "short-key-0123456789"          # 20 bytes: refused
    keyfile = tmp_path / "key"
    if case == "env-short":
        monkeypatch.setenv(ENV, short)
    else:
        monkeypatch.delenv(ENV, raising=False)
    if case == "file-short":
        keyfile.write_text(short + "\n")
    option = f"{{key_env: {ENV}}}" if case.startswith("env") else f"{{key_file: '{keyfile}'}}"
    conf = _overlay(tmp_path / "conf", None, option, sources=("p3ke",))
    code = cli.main(["ingest", "--env", "base", "--conf-dir", str(conf), "--lake", str(tmp_path / "lake"),
                     "--source", "p3ke"])
    out = capsys.readouterr()
    assert code == 2
    text = out.out + out.err
    assert "sources.p3ke.pseudonymise" in text
    assert (ENV if case.startswith("env") else str(keyfile)) in text
    assert ("shorter than 32 bytes" in text) == case.endswith("short")
    assert short not in text and "short-key" not in text
    assert not (tmp_path / "lake").exists()


def test_the_option_takes_one_key_source_and_known_fields(tmp_path):
    for option, wanted in [(f"{{key_env: {ENV}, key_file: /x}}", "exactly one of"),
                           ("{fields: [nik]}", "exactly one of"),
                           (f"{{fields: [name], key_env: {ENV}}}", "sources.p3ke.pseudonymise.fields"),
                           ("{key_env: 'NOT-A-NAME'}", "name of an environment variable")]:
        conf = _overlay(tmp_path / f"conf{abs(hash(option))}", None, option, sources=("p3ke",))
        with pytest.raises(config.ConfigError) as err:
            config.load(env="base", conf_dir=conf)
        assert wanted in str(err.value), (option, str(err.value))


def test_the_option_is_off_in_the_committed_contracts():
    cfg = config.load(env="base", conf_dir=REPO / "conf")
    assert all(c.pseudonymise is None for c in cfg.sources.values())


# ---------------------------------------------------------------- a whole pseudonymised run, scanned
# First among the Spark tests: its pipeline runs in its own process (a command, as in production,
# with Spark's event log on) before this process starts its session, so one JVM runs at a time.


def _clear_values(spark, data: Path) -> dict[str, set[str]]:
    """Every form a clear identifier of the extracts can take: as recorded, its digits, and the
    cleaned forms silver holds in a clear run (phones also as 0... and +62...). Placeholder NIKs
    (`standardise.placeholder_niks`, e.g. 1234567890123456) identify nobody and are in the config,
    hence in every plan that flags them: left out."""
    from padan.standardise import columns as C

    values: dict[str, set[str]] = {"digits": set(), "email": set()}
    cfg = config.load(env="base", conf_dir=REPO / "conf")
    placeholders = [re.compile(p) for p in cfg.standardise.placeholder_niks or C.NIK_PLACEHOLDER_DEFAULTS]
    for source in ("p3ke", "prakerja"):
        cols = cfg.sources[source].columns
        raw = spark.read.option("header", True).csv(str(data / source))
        present = {f: cols[f] for f in IDENTIFIERS if f in cols}
        exprs = []
        for f, c in present.items():
            v = F.col(f"`{c}`")
            if f == "email":
                exprs += [F.lower(F.trim(v)), C.email_canonical(v)]
            else:
                digits = C.digits_only(v)
                exprs += [digits]
                if f == "phone":
                    national = C.phone_national(digits)
                    exprs += [C.phone_from_national(national), F.concat(F.lit("0"), national)]
        for row in raw.select(F.explode(F.array(*[e.cast("string") for e in exprs])).alias("v")).distinct().collect():
            v = row.v
            if v and "@" in v:
                values["email"].add(v)
            elif v and len(v) >= 10 and not any(p.fullmatch(v) for p in placeholders):
                values["digits"].add(v)        # (shorter digit runs are not identifiers, and occur everywhere)
    return values


_DIGITS = re.compile(r"[0-9]{10,}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")


def _clear_hits(text: str, clear: dict[str, set[str]]) -> list[str]:
    """Clear identifiers found in `text` (as digit runs or inside longer ones; e-mails as tokens).
    The hits are returned masked, so an assertion message never prints one."""
    hits = []
    lengths = sorted({len(v) for v in clear["digits"]})
    for run in _DIGITS.findall(text):
        if any(run[i:i + n] in clear["digits"] for n in lengths for i in range(len(run) - n + 1)):
            hits.append(f"<{len(run)} digits>")
    hits += ["<an e-mail>" for e in _EMAIL.findall(text) if e.lower() in clear["email"]]
    return hits


def _secrets(key: str) -> list[str]:
    from padan.standardise.pseudonymise import hmac_pads

    ipad, opad = hmac_pads(key.encode())
    return [key, key.encode().hex(), ipad.hex(), opad.hex(), ipad.hex().upper(), opad.hex().upper()]


@pytest.fixture(scope="module")
def pseudonymised_run(tmp_path_factory):
    """`padan pipeline --train` on the committed extracts with both sources pseudonymised, as a
    command with Spark's event log on: (lake, data, stdout + stderr, event log text)."""
    root = tmp_path_factory.mktemp("pseudonymised")
    data = install_extracts("pipeline", root / "data")
    conf = _overlay(root / "conf", data, f"{{fields: [nik, no_kk, phone, email], key_env: {ENV}}}")
    events = root / "events"
    events.mkdir()
    env = {**os.environ, ENV: KEY, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
           "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_SUBMIT_ARGS": f"--conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false "
                                  f"--conf spark.eventLog.dir={events.as_uri()} pyspark-shell"}
    proc = subprocess.run([sys.executable, "-m", "padan.cli", "pipeline", "--train", "--env", "base", "--conf-dir",
                           str(conf), "--lake", str(root / "lake"), "--run-date", "2026-11-28"],
                          capture_output=True, text=True, timeout=1200, env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    event_text = "\n".join(p.read_text(errors="replace") for p in events.rglob("*") if p.is_file())
    assert "SparkListenerSQLExecutionStart" in event_text         # the plans are in there
    return root / "lake", data, proc.stdout + proc.stderr, event_text


@pytest.mark.integration
def test_a_pseudonymised_run_leaves_no_clear_identifier_key_or_pad(spark, pseudonymised_run):
    lake, data, log_text, event_text = pseudonymised_run
    clear = _clear_values(spark, data)
    assert len(clear["digits"]) > 3000 and len(clear["email"]) > 500
    # the scan finds what it looks for: the input itself is full of hits
    assert len(_clear_hits((data / "prakerja" / "part-00000.csv").read_text(), clear)) > 1000

    # every Parquet file in the lake (current and replaced versions of every table), read by Spark
    folders: dict[Path, list[str]] = {}
    for p in lake.rglob("*.parquet"):
        folders.setdefault(next(a for a in p.parents if (a / "_delta_log").is_dir() or a == lake), []).append(str(p))
    assert len(folders) >= 8
    scanned = 0
    for folder, files in folders.items():
        df = spark.read.option("mergeSchema", True).parquet(*files)
        rows = [r[0] for r in df.select(F.to_json(F.struct(*df.columns))).collect()]
        scanned += len(rows)
        text = "\n".join(rows)
        assert not _clear_hits(text, clear), (folder.name, _clear_hits(text, clear)[:5])
        assert not [s for s in _secrets(KEY) if s in text], folder.name
    assert scanned > 10_000
    # every other file in the lake (Delta logs, models, report, ledger): as text
    for p in lake.rglob("*"):
        if p.is_file() and p.suffix != ".parquet":
            text = p.read_bytes().decode("latin-1")
            assert not _clear_hits(text, clear), str(p.relative_to(lake))
            assert not [s for s in _secrets(KEY) if s in text], str(p.relative_to(lake))
    # the command's own output and log, and Spark's event log (plans, SQL tab, job descriptions)
    for name, text in (("command output", log_text), ("event log", event_text)):
        assert not _clear_hits(text, clear), (name, _clear_hits(text, clear)[:5])
        assert not [s for s in _secrets(KEY) if s.lower() in text.lower()], name

    # and the lake does hold the pseudonyms, in bronze and silver, and the run linked on them
    persons = spark.read.format("delta").load(str(lake / "silver" / "persons"))
    hexed = r"^[0-9a-f]{64}$"
    got = persons.agg(*[F.sum(F.col(f).rlike(hexed).cast("int")).alias(f) for f in IDENTIFIERS],
                      F.sum(F.col("nik_cmp").rlike(r"^[0-9]{6}[0-9a-f]{16}$").cast("int")).alias("nik_cmp"),
                      F.sum(F.col("nik_valid").cast("int")).alias("valid"), F.count("*").alias("rows")).first()
    assert got.rows > 3000 and got.valid > 0.8 * got.rows and got.nik > 0.9 * got.rows and got.nik_cmp > 0.8 * got.rows
    assert got.no_kk > 0.5 * got.rows and got.phone > 500 and got.email > 500
    bronze = spark.read.format("delta").load(str(lake / "bronze" / "prakerja"))
    assert bronze.where(F.col("nik").rlike(hexed) & F.col("no_hp").rlike(hexed)).count() > 1000
    pairs = spark.read.format("delta").load(str(lake / "gold" / "pairs"))
    exact_nik = _gamma_of("nik", "exact NIK")
    assert pairs.where((F.col("gammas")["nik"] == exact_nik) & (F.col("match_probability") > 0.9)).count() > 100


def _gamma_of(comparison: str, label: str) -> int:
    """The gamma Splink gives a level: the non-null levels count down to 0 ('all other')."""
    model = yaml.safe_load((REPO / "conf" / "base" / "model.yml").read_text())
    for c in model["model"]["comparisons"]:
        if c["name"] == comparison:
            levels = [lv for lv in c["levels"] if not lv.get("null_level")]
            return len(levels) - 1 - [lv.get("label") for lv in levels].index(label)
    raise KeyError(comparison)


# ---------------------------------------------------------------- the transform, in this process


def test_hmac_in_spark_equals_pythons_hmac(spark):
    from padan.standardise.pseudonymise import hmac_pads, hmac_sha256

    rnd = random.Random(20)
    alphabet = "0123456789abcXYZ éüçñ-_.@+ 日本語 ÀÉ Ω ☃ 😀\t\\'\""
    values = ["", " ", "0", "3201014508900001", "+62 812-3456-7890", "siti@contoh.example", "a" * 10_000,
              "Ñandú 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]
    values += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 80))) for _ in range(400)]
    values += [str(rnd.randrange(10 ** 15, 10 ** 16)) for _ in range(100)]
    keys = [b"k" * 32, bytes(range(64)), bytes(range(65)), ("kunci rahasia ☃ " * 20).encode(), os.urandom(40)]
    rows = [(i, v) for i, v in enumerate(values)] + [(len(values), None)]
    msgs = spark.createDataFrame(rows, "i INT, v STRING")
    for key in keys:
        ipad, opad = hmac_pads(key)
        pads = spark.createDataFrame([(bytearray(ipad), bytearray(opad))], "ip BINARY, op BINARY")
        got = {r.i: r.h for r in msgs.crossJoin(pads).select(
            "i", hmac_sha256(F.col("v"), F.col("ip"), F.col("op")).alias("h")).collect()}
        want = {i: None if v is None else _hmac(key, v) for i, v in rows}
        assert got == want, len(key)


def _standardised(spark, data: Path, source: str, key: str | None, key_env: str = ENV):
    from padan.ingest.read import list_files, read_source
    from padan.standardise.persons import standardise_rows, with_record_keys
    from padan.standardise.pseudonymise import Pseudonymiser

    cfg = config.load(env="base", conf_dir=REPO / "conf")
    contract = cfg.sources[source]
    if key is not None:
        os.environ[key_env] = key
        contract = contract.model_copy(update={"pseudonymise": config.PseudonymiseOptions(key_env=key_env)})
    raw = read_source(spark, source, contract, list_files(spark, source, str(data / source)))
    s = cfg.standardise
    std = standardise_rows(
        with_record_keys(raw.rows, contract.record_key), source=source, batch_id="b1", columns=contract.columns,
        date_formats=contract.date_formats, value_maps=contract.value_maps, key_column=contract.record_key,
        titles=s.name_titles, muhammad_variants=s.muhammad_variants, placeholder_dates=s.placeholder_dates,
        day15_placeholder=s.day15_placeholder, placeholder_niks=s.placeholder_niks, min_birth_year=s.min_birth_year,
        reference_date="2026-11-28", required=contract.required, valid_ranges=contract.valid_ranges,
        pseudonymiser=Pseudonymiser.for_source(spark, source, contract))
    return std, raw


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    """The committed extracts, plus lines that are rejected: one that does not parse and one
    without a name, each holding a NIK (P3KE), and a line that does not parse (Prakerja)."""
    data = install_extracts("pipeline", tmp_path_factory.mktemp("extracts") / "data")
    p3ke = data / "p3ke" / "part-00000.csv"
    first = p3ke.read_text().splitlines()[1].split(",")
    nameless = ",".join(["P3KE-REJ-2", *first[1:4], "", *first[5:]])
    with p3ke.open("a") as fh:
        fh.write(f"P3KE-REJ-1,broken,{first[3]},line\n{nameless}\n")
    with (data / "prakerja" / "part-00000.csv").open("a") as fh:
        fh.write("PK-REJ-1,3201014508900001,only,three\n")
    return data


@pytest.mark.integration
def test_derived_fields_equal_the_clear_runs_and_plans_hold_no_key(spark, extracts, capsys, monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    for source in ("p3ke", "prakerja"):
        clear, _ = _standardised(spark, extracts, source, None)
        pseudo, _ = _standardised(spark, extracts, source, KEY)
        assert clear.columns == pseudo.columns
        c = {r.unique_id: r.asDict() for r in clear.collect()}
        p = {r.unique_id: r.asDict() for r in pseudo.collect()}
        assert c.keys() == p.keys() and len(c) > 1000
        replaced = {*IDENTIFIERS, "nik_cmp", "raw_text"}
        kept = [k for k in clear.columns if k not in replaced]
        assert {"nik_valid", "nik_issue", "nik_district", "nik_birth_date", "nik_sex", "nik_dob_mismatch", "flags",
                "reasons", "phone", "email"} - set(kept) == {"phone", "email"}
        for uid, row in c.items():
            prow = p[uid]
            assert {k: row[k] for k in kept} == {k: prow[k] for k in kept}, uid
            for f in IDENTIFIERS:
                assert prow[f] == (None if row[f] is None else _hmac(KEY, row[f])), (uid, f)
            assert prow["nik_cmp"] == (None if row["nik_cmp"] is None
                                       else row["nik_cmp"][:6] + _hmac(KEY, row["nik_cmp"])[:16]), uid
            assert prow["raw_text"] is None
        assert sum(r["nik_valid"] for r in c.values()) > 0.8 * len(c)
        rejected = [set(r["reasons"]) for r in c.values() if r["reasons"]]    # rejects are compared too
        assert len(rejected) == (2 if source == "p3ke" else 1) and any("malformed_line" in r for r in rejected)
        assert source == "prakerja" or any(r == {"no_name"} for r in rejected)

        capsys.readouterr()
        pseudo.explain(True)
        plans = capsys.readouterr().out
        assert "_pseudonym_ipad" in plans and "BroadcastNestedLoopJoin" in plans
        assert not [s for s in _secrets(KEY) if s.lower() in plans.lower()]
    # what the SQL tab and the event log show of every query this session ran
    store = spark._jsparkSession.sharedState().statusStore()
    executions = store.executionsList()
    texts = []
    for i in range(executions.size()):
        e = executions.apply(i)
        texts += [e.description(), e.details(), e.physicalPlanDescription()]
    text = "\n".join(t for t in texts if t)
    assert "_pseudonym_opad" in text
    assert not [s for s in _secrets(KEY) if s.lower() in text.lower()]


@pytest.mark.integration
def test_the_same_key_links_across_sources_and_another_key_does_not(spark, extracts, monkeypatch):
    monkeypatch.setenv(ENV, "")
    monkeypatch.setenv(ENV + "_B", "")      # restored after the test: _standardised sets them

    def niks(source, key, env):
        std, _ = _standardised(spark, extracts, source, key, env)
        return std.where(F.col("nik_valid")).select("nik").distinct()

    clear_shared = niks("p3ke", None, ENV).join(niks("prakerja", None, ENV), "nik").count()
    same = niks("p3ke", KEY, ENV).join(niks("prakerja", KEY, ENV + "_B"), "nik").count()
    other = niks("p3ke", KEY, ENV).join(niks("prakerja", OTHER_KEY, ENV + "_B"), "nik").count()
    assert clear_shared > 100
    assert same == clear_shared
    assert other == 0


@pytest.mark.integration
def test_bronze_keeps_hashes_of_the_recorded_values_and_nothing_of_a_malformed_line(spark, tmp_path, monkeypatch):
    from padan.stages import Ctx, run_ingest
    from tests.test_ingest import HEADER, row

    monkeypatch.setenv(ENV, KEY)
    nik = "3201014508900001"
    lines = [HEADER, row("A1", nik=nik), row("A2", nik=f" {nik} ", name="BUDI"), f"A3,broken,{nik},line"]
    folder = tmp_path / "p3ke"
    folder.mkdir()
    (folder / "part-0.csv").write_text("\n".join(lines) + "\n")
    cfg = config.load(env="base", conf_dir=_overlay(tmp_path / "conf", None, f"{{key_env: {ENV}}}", ("p3ke",)),
                      overrides={"lake": {"root": str(tmp_path / "lake")}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    r = run_ingest(ctx, "p3ke", path=str(folder))
    assert (r.rows_read, r.rows_standardised, r.rows_rejected) == (3, 2, 1)
    bronze = {x._unique_id: x for x in ctx.lake.read("bronze.p3ke").collect()}
    assert bronze["p3ke:A1"].nik == _hmac(KEY, nik) and bronze["p3ke:A1"].no_kk == _hmac(KEY, "3201010101010001")
    assert bronze["p3ke:A2"].nik == _hmac(KEY, f" {nik} ")       # as recorded
    assert bronze["p3ke:A2"].nama == "BUDI"                       # other columns as they were
    assert all(v is None for k, v in bronze["p3ke:A3"].asDict().items() if not k.startswith("_"))
    persons = {x.record_key: x for x in ctx.lake.read("silver.persons").collect()}
    assert persons["A1"].nik == persons["A2"].nik == _hmac(KEY, nik)   # silver: the cleaned value's
    (rej,) = ctx.lake.read("ops.rejects").collect()
    assert "malformed_line" in rej.reasons and rej.raw_text is None and rej.line == 4
