"""Registers without NIK: the guard that stops NIK-anchored training before it starts, and the
shipped no-NIK profile (conf/examples/no_nik) end to end on a small GENERATED pair of registers."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

import pytest

from padan import config
from padan.errors import ModelError

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "conf" / "examples" / "no_nik"

# Obviously synthetic: names drawn from short lists, places named after their number.
GIVEN = ("AGUS BUDI CAHYA DEWI EKA FITRI GILANG HADI INDAH JOKO KARTIKA LESTARI MADE NINING OKTA PUTRI RINA "
         "SARI TONO UMI WAHYU YANTI ZAINAL ARIF BAYU CITRA DIAN ENDANG FAJAR GITA HENDRA IWAN JUMADI KURNIA LINDA "
         "MARLINA NOVI OKTAVIA PANJI QORI RAHMAT SLAMET TAUFIK UTARI VINA WULAN YOGA ZAHRA ANDI BAMBANG CANDRA "
         "DODI ERNA FEBRI GALIH HERU IRMA JAYA KOMANG LUKMAN MULYADI NURUL OKI PRIYO RATNA SUSI TITIN").split()
FAMILY = ("SANTOSO WIJAYA SAPUTRA HIDAYAT NUGROHO PRATAMA KUSUMA SETIAWAN GUNAWAN HALIM LUBIS NASUTION "
          "SIREGAR HARAHAP SIMANJUNTAK PANGARIBUAN TAMBUNAN WIBOWO SUSANTO PURNOMO HARTONO SUGIARTO "
          "RAHARJO WAHYUDI KURNIAWAN FIRMANSYAH HUTAPEA SITORUS MANURUNG GINTING").split()


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word))
    return word[:i] + rng.choice("AEIOUKRSTN") + word[i + 1:]


def generate(root: Path, *, households: int = 140, seed: int = 7) -> dict[str, int]:
    """Two registers of the same people without NIK: bansos_desa (everyone) and posyandu (about
    70% of them, corrupted: typos, dropped family names, shifted or missing dates, missing sex, the
    region only inside a free-text address). Households share a family name and an address;
    some have twins. Writes <root>/{bansos_desa,posyandu}/part-0.csv and truth/truth.parquet."""
    import pandas as pd

    rng = random.Random(seed)
    people = []
    for h in range(households):
        fam = rng.choice(FAMILY) if rng.random() < 0.8 else None     # a fifth are mononym households
        kec, desa = 1 + h % 6, 1 + h % 17
        street = f"JL. MAWAR {1 + h % 9} NO. {h + 1}"
        rt, rw = 1 + h % 12, 1 + h % 5
        base_year = rng.randint(1950, 1985)
        for m in range(rng.randint(1, 4)):
            born = dt.date(base_year + (0 if m < 2 else rng.randint(18, 30)), rng.randint(1, 12), rng.randint(1, 28))
            if m == 1 and rng.random() < 0.15:
                born = people[-1]["born"]                               # twins: same household, same day
            given = rng.choice(GIVEN)
            people.append(dict(pid=f"P{len(people):04d}", given=given, fam=fam, born=born, sex=rng.choice("LP"),
                               street=street, rt=rt, rw=rw, desa=f"DESA {desa}", kec=f"KECAMATAN {kec}"))
    truth, a_rows, b_rows = [], [], []
    for i, p in enumerate(people):
        a_id = f"A{i:05d}"
        a_rows.append({"id": a_id, "nama_depan": p["given"], "nama_belakang": p["fam"] or "",
                       "tgl_lahir": p["born"].strftime("%d-%m-%Y"), "jk": p["sex"],
                       "alamat": f"{p['street']} RT {p['rt']:03d}/{p['rw']:03d}", "desa": p["desa"],
                       "kecamatan": p["kec"], "kabupaten": "KAB. CONTOH", "provinsi": "JAWA TENGAH", "no_hp": ""})
        truth.append(("bansos_desa", a_id, p["pid"]))
        if rng.random() < 0.3:
            continue
        given, fam = p["given"], p["fam"]
        if rng.random() < 0.15:
            given = _typo(rng, given)
        if fam and rng.random() < 0.1:
            fam = _typo(rng, fam)
        if fam and rng.random() < 0.05:
            fam = None
        born = p["born"]
        r = rng.random()
        if r < 0.04:
            born = born.replace(day=min(28, born.day % 28 + 1))
        elif r < 0.06:
            born = None
        sex = p["sex"] if rng.random() > 0.05 else ""
        b_id = f"B{i:05d}"
        name = " ".join(x for x in (given, fam) if x)
        b_rows.append({"no_reg": b_id, "nama": name.title() if rng.random() < 0.5 else name,
                       "tanggal_lahir": born.isoformat() if born else "", "jenis_kelamin": {"L": "LAKI-LAKI", "P": "PEREMPUAN", "": ""}[sex],
                       "alamat_lengkap": f"{p['street']} RT {p['rt']:03d} RW {p['rw']:03d}, {p['desa']}, KEC. {p['kec'][10:]}",
                       "kab_kota": "Kabupaten Contoh"})
        truth.append(("posyandu", b_id, p["pid"]))
    for name, rows in (("bansos_desa", a_rows), ("posyandu", b_rows)):
        (root / name).mkdir(parents=True)
        with (root / name / "part-0.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    (root / "truth").mkdir()
    pd.DataFrame(truth, columns=["source", "record_id", "person_id"]).to_parquet(root / "truth" / "truth.parquet")
    return {"bansos_desa": len(a_rows), "posyandu": len(b_rows)}


# ---------------------------------------------------------------- the guard on a tiny frame


def test_label_counts_and_the_guard(spark):
    from padan import nik_labels

    schema = ("unique_id STRING, nik STRING, nik_valid BOOLEAN, nik_dob_mismatch BOOLEAN, nik_sex_mismatch BOOLEAN, "
              "birth_date DATE, sex STRING")
    d = dt.date(1990, 1, 2)
    rows = [("a", "1", True, False, False, d, "L"), ("b", "1", True, False, False, d, "L"),
            ("c", "1", True, False, False, d, "L"),                                   # 3 pairs on NIK 1
            ("d", "2", True, True, False, d, "L"), ("e", "2", True, False, False, d, "L"),   # a mismatch: no pair
            ("f", "3", True, False, False, None, "P"), ("g", "3", True, False, False, d, "P"),  # no date: no pair
            ("h", None, False, False, False, d, "P"), ("i", None, False, False, False, d, None)]
    persons = spark.createDataFrame(rows, schema)
    counts = nik_labels.count_labels(persons)
    assert (counts.records, counts.valid_nik, counts.label_pairs) == (9, 7, 3)
    assert nik_labels.check(persons, "em") is None
    with pytest.raises(ModelError) as err:
        nik_labels.check(persons, "nik_anchored")
    assert err.value.exit_code == 6
    assert "m_method" in str(err.value) and "conf/examples/no_nik" in str(err.value)
    assert "3 NIK-anchored label pairs" in str(err.value)


def test_the_profile_loads_as_an_overlay_of_the_base():
    cfg = config.load(env="local", conf_dir=PROFILE)
    base = config.load(env="base", conf_dir=REPO / "conf")
    assert cfg.model.training.m_method == "em" and base.model.training.m_method == "nik_anchored"
    used = "\n".join([*cfg.model.blocking_rules, *cfg.model.training.em_blocking_rules, *cfg.model.training.prior_rules,
                      *(lvl.sql or "" for c in cfg.model.comparisons for lvl in c.levels)])
    assert "nik" not in used                                      # nothing in the profile needs a NIK
    assert {"bansos_desa", "posyandu"} <= set(cfg.sources) and cfg.sources["posyandu"].derive["desa"]
    febrl = config.load(env="febrl4", conf_dir=PROFILE)
    assert febrl.sources["febrl4a"].derive["name"].concat == ["given_name", "surname"]


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def no_nik_lake(spark, tmp_path_factory):
    from padan.stages import Ctx, run_ingest

    root = tmp_path_factory.mktemp("no_nik")
    rows = generate(root / "data")
    cfg = config.load(env="local", conf_dir=PROFILE, overrides={
        "lake": {"root": str(root / "lake")},
        "sources": {s: {"path": str(root / "data" / s)} for s in ("bansos_desa", "posyandu")},
        "model": {"training": {"u_max_pairs": 50000}}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    ingested = {s: run_ingest(ctx, s) for s in ("bansos_desa", "posyandu")}
    return ctx, rows, ingested, str(root / "data" / "truth")


@pytest.mark.integration
def test_nik_anchored_training_stops_before_it_starts_on_a_register_without_nik(no_nik_lake):
    from pyspark.sql import functions as F

    from padan.model.store import list_versions
    from padan.stages import Ctx, run_train
    from padan.tables import RUNS

    ctx, _, _, _ = no_nik_lake
    base_method = Ctx.create(ctx.spark, ctx.cfg.with_overrides({"model": {"training": {"m_method": "nik_anchored"}}}),
                             run_date=ctx.run_date)
    with pytest.raises(ModelError) as err:
        run_train(base_method)
    assert err.value.exit_code == 6 and "0 of" in str(err.value) and "m_method: em" in str(err.value)
    assert not list_versions(ctx.lake)
    failed = ctx.lake.read(RUNS.name).where((F.col("stage") == "train") & (F.col("status") == "failed")).count()
    assert failed == 1


@pytest.mark.integration
def test_the_no_nik_profile_links_a_generated_register_without_nik(no_nik_lake):
    from padan.stages import link_run_id, run_cluster, run_evaluate, run_predict, run_train

    ctx, rows, ingested, truth_path = no_nik_lake
    for source, res in ingested.items():   # nothing rejected for lacking an identifier
        assert (res.rows_read, res.rows_standardised, res.rows_rejected) == (rows[source], rows[source], 0)
    silver = ctx.lake.read("silver.persons").where("source_dataset = 'posyandu'")
    assert silver.where("desa IS NOT NULL AND kecamatan IS NOT NULL AND rt IS NOT NULL AND rw IS NOT NULL").count() == rows["posyandu"]
    version = run_train(ctx)
    run_id = link_run_id(ctx, version)
    run_predict(ctx, run_id, version)
    run_cluster(ctx, run_id)
    evals = run_evaluate(ctx, run_id, truth_path)
    pick = {r["kind"]: r for r in evals if r["is_configured_threshold"]}
    pw, bc = pick["pairwise"], pick["cluster_bcubed"]
    # generated households with twins, typos and shifted dates, no NIK: a floor, not a tuned figure
    assert pw["precision"] >= 0.97 and pw["recall"] >= 0.9, (pw["precision"], pw["recall"])
    assert bc["f1"] >= 0.97, bc["f1"]


@pytest.mark.integration    # whole stages end to end: full suite, not the fast tier
def test_a_name_with_a_desa_or_kecamatan_is_linked_not_rejected_under_the_profile(spark, tmp_path):
    """`standardise.identifying_regions`: the base rejects a row with a name and only a desa (no NIK,
    birth date, phone, e-mail or kabupaten); the no-NIK profile keeps it."""
    from pyspark.sql import functions as F

    from padan.stages import Ctx, run_ingest

    src = tmp_path / "posyandu"
    src.mkdir()
    (src / "part-0.csv").write_text(
        "no_reg,nama,tanggal_lahir,jenis_kelamin,alamat_lengkap,kab_kota\n"
        "R1,Contoh Satu,,P,\"JL. MAWAR 1 RT 001 RW 002, DESA SATU, KEC. DUA\",\n"   # desa and kecamatan only
        "R2,Contoh Dua,,L,JL. MAWAR 2,\n"                                              # no region at all
        "R3,Contoh Tiga,,L,JL. MAWAR 3,Kab. Contoh\n")
    got = {}
    for regions in (["kabupaten"], None):
        over = {"lake": {"root": str(tmp_path / f"lake-{regions}")}, "sources": {"posyandu": {"path": str(src)}}}
        if regions:
            over["standardise"] = {"identifying_regions": regions}
        ctx = Ctx.create(spark, config.load(env="local", conf_dir=PROFILE, overrides=over), run_date="2026-11-28")
        run_ingest(ctx, "posyandu")
        rej = ctx.lake.read("ops.rejects").where(F.col("source") == "posyandu")
        got[bool(regions)] = sorted((r["record_key"], tuple(r["reasons"])) for r in rej.collect())
    assert got[True] == [("R1", ("no_identifying_field",)), ("R2", ("no_identifying_field",))]   # the base's rule
    assert got[False] == [("R2", ("no_identifying_field",))]                                   # the profile's


@pytest.mark.integration    # whole stages end to end: full suite, not the fast tier
def test_another_identifier_is_cleaned_keeps_a_row_and_is_compared_under_the_profile(spark, tmp_path):
    """`other_id` (a social security, passport or member number): letters and digits kept, upper
    case, blank is null; a row with a name and only that identifier is linked, not rejected; the
    profile blocks on it and compares it (exact / one character off / other)."""
    from pyspark.sql import functions as F

    from padan.stages import Ctx, run_ingest
    from padan.tables import PERSONS

    src = tmp_path / "posyandu"
    src.mkdir()
    (src / "part-0.csv").write_text(
        "no_reg,nama,tanggal_lahir,jenis_kelamin,alamat_lengkap,kab_kota,no_anggota\n"
        "R1,Contoh Satu,,P,JL. MAWAR 1,,ab-12 345\n"       # only the other identifier
        "R2,Contoh Dua,,L,JL. MAWAR 2,,\n"                 # nothing identifying
        "R3,Contoh Tiga,,L,JL. MAWAR 3,Kab. Contoh,   \n")  # a kabupaten; a blank identifier
    over = {"lake": {"root": str(tmp_path / "lake")},
            "sources": {"posyandu": {"path": str(src), "columns": {"other_id": "no_anggota"}}}}
    cfg = config.load(env="local", conf_dir=PROFILE, overrides=over)
    ctx = Ctx.create(spark, cfg, run_date="2026-11-30")
    run_ingest(ctx, "posyandu")
    kept = {r["record_key"]: r["other_id"] for r in ctx.lake.read(PERSONS.name).collect()}
    assert kept == {"R1": "AB12345", "R3": None}
    rej = ctx.lake.read("ops.rejects").where(F.col("source") == "posyandu")
    assert [(r["record_key"], tuple(r["reasons"])) for r in rej.collect()] == [("R2", ("no_identifying_field",))]
    assert "l.other_id = r.other_id" in cfg.model.blocking_rules
    levels = next(c for c in cfg.model.comparisons if c.name == "other_id").levels
    assert [lv.label for lv in levels if not lv.is_null] == [
        "exact", "one character mistyped or two swapped", "all other"]
