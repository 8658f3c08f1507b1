"""The synthetic population as pure functions of identifiers.

A person is (household id `hh`, member index `k`). Everything about a household -- where it lives,
its family card, its desil, its naming tradition, the head's age -- is a function of (seed, hh), and
everything about a member -- role, sex, birth date, NIK, name, education -- of (seed, hh, k) and the
household. So the same person can be rebuilt anywhere (in P3KE, in Prakerja, as somebody's family
member) without a join, and the same seed always gives the same people.

Household ids:
- P3KE households: ``hh = block * 64 + slot``. P3KE rows come in blocks of 64 rows; a block is laid
  out by one of `N_TEMPLATES` templates (household sizes filling 64 rows), and all households of a
  block live in one village (extracts are ordered by region).
- Households of people who are not in P3KE: ``NP_BASE + registrant`` (general population, by
  population weight), and ``NP_ADULT_BASE + registrant`` (a last-resort household whose head is a
  working-age adult).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as PF

from padan.synth import sqlx as F
from padan.synth.sqlx import X as Column

from padan.synth import names as N
from padan.synth.profiles import Profile
from padan.synth.regions import GEO_SEED, Geography, STREETS, HAMLET_WORD, GROUPS, geography
from padan.synth.rng import CONSTANTS, Rng, at, lit_array

BLOCK = 64
BLOCK_BITS = 6
N_TEMPLATES = 256
NP_BASE = 100_000_000_000
NP_ADULT_BASE = 200_000_000_000
REF_DATE = "2022-06-30"          # P3KE reference date: ages are ages on this day
REF_YEAR = 2022

# P3KE household sizes (poor households are larger than average).
P3KE_SIZE_WEIGHTS = {1: 0.07, 2: 0.14, 3: 0.20, 4: 0.24, 5: 0.17, 6: 0.10, 7: 0.05, 8: 0.03}

ROLE_HEAD, ROLE_WIFE, ROLE_HUSBAND, ROLE_CHILD = "KEPALA KELUARGA", "ISTRI", "SUAMI", "ANAK"
EXTRA_ROLES = [("ORANG TUA", 0.30), ("CUCU", 0.25), ("FAMILI LAIN", 0.22), ("MENANTU", 0.13), ("MERTUA", 0.10)]

EDU_P3KE = ["TIDAK/BELUM SEKOLAH", "BELUM TAMAT SD/SEDERAJAT", "TAMAT SD/SEDERAJAT", "SLTP/SEDERAJAT",
            "SLTA/SEDERAJAT", "DIPLOMA I/II", "AKADEMI/DIPLOMA III/SARJANA MUDA", "DIPLOMA IV/STRATA I",
            "STRATA II"]
EDU_PRAKERJA = ["Tidak Sekolah", "SD", "SD", "SMP", "SMA/SMK", "D1/D2", "D3", "S1/D4", "S2"]
# cumulative shares of education levels 0..8 among adults in poor households
EDU_ADULT_CUM = [0.05, 0.17, 0.50, 0.72, 0.945, 0.955, 0.97, 0.998, 1.0]

JOBS_RURAL_M = N.expand("PETANI/PEKEBUN*30 BURUH_TANI/PERKEBUNAN*10 BURUH_HARIAN_LEPAS*18 WIRASWASTA*10 "
                        "NELAYAN/PERIKANAN*4 PEDAGANG*6 KARYAWAN_SWASTA*6 SOPIR*3 TUKANG_BATU*4 TUKANG_KAYU*2 "
                        "BELUM/TIDAK_BEKERJA*7")
JOBS_URBAN_M = N.expand("BURUH_HARIAN_LEPAS*22 WIRASWASTA*16 PEDAGANG*12 KARYAWAN_SWASTA*18 SOPIR*6 "
                        "TUKANG_BATU*5 TUKANG_KAYU*3 PETANI/PEKEBUN*3 BELUM/TIDAK_BEKERJA*10 JASA_LAINNYA*5")
JOBS_F = N.expand("MENGURUS_RUMAH_TANGGA*45 PETANI/PEKEBUN*12 BURUH_HARIAN_LEPAS*10 PEDAGANG*10 WIRASWASTA*7 "
                  "KARYAWAN_SWASTA*6 BURUH_TANI/PERKEBUNAN*4 BELUM/TIDAK_BEKERJA*6")
JOBS_OLD_M = N.expand("BELUM/TIDAK_BEKERJA*55 PETANI/PEKEBUN*30 PEDAGANG*8 PENSIUNAN*7")
JOBS_OLD_F = N.expand("BELUM/TIDAK_BEKERJA*40 MENGURUS_RUMAH_TANGGA*35 PETANI/PEKEBUN*15 PEDAGANG*7 PENSIUNAN*3")

PHONE_PREFIXES = ["812", "813", "821", "822", "823", "852", "853", "811", "851", "857", "856", "858",
                  "878", "877", "817", "818", "819", "859", "838", "831", "832", "895", "896", "897",
                  "898", "899", "881", "882", "887", "888"]
EMAIL_DOMAINS = N.expand("gmail.com*70 yahoo.com*10 yahoo.co.id*8 ymail.com*3 outlook.com*4 hotmail.com*3 "
                         "rocketmail.com*2")

MUSLIM_TRADITIONS = (N.JAVA, N.SUNDA, N.MINANG, N.BUGIS, N.MELAYU)


def _p3ke_templates(seed: int) -> tuple[list[int], list[int]]:
    """Layouts of 64-row blocks: per (template, position) a code slot*100 + member*10 + size, and
    per (template, slot) the household's size (0 for unused slots)."""
    rnd = random.Random(f"padan-synth-templates-{seed}")
    sizes_pop = list(P3KE_SIZE_WEIGHTS)
    weights = list(P3KE_SIZE_WEIGHTS.values())
    codes: list[int] = []
    slot_sizes: list[int] = []
    for _ in range(N_TEMPLATES):
        filled = 0
        sizes: list[int] = []
        while filled < BLOCK:
            s = min(rnd.choices(sizes_pop, weights)[0], BLOCK - filled)
            sizes.append(s)
            filled += s
        for slot, s in enumerate(sizes):
            for member in range(s):
                codes.append(slot * 100 + member * 10 + s)
        slot_sizes.extend(sizes + [0] * (BLOCK - len(sizes)))
    return codes, slot_sizes


def _account_templates(seed: int, duplicate: float) -> list[int]:
    """Layouts of 64-row Prakerja blocks: per position a code registrant_slot*10 + account index.
    A registrant has 2+ accounts with probability `duplicate` (2: 75%, 3: 20%, 4: 5%)."""
    rnd = random.Random(f"padan-synth-accounts-{seed}-{duplicate}")
    codes: list[int] = []
    for _ in range(N_TEMPLATES):
        filled = 0
        slot = 0
        while filled < BLOCK:
            n = 1
            if rnd.random() < duplicate:
                n = rnd.choices([2, 3, 4], [0.75, 0.20, 0.05])[0]
            n = min(n, BLOCK - filled)
            for a in range(n):
                codes.append(slot * 10 + a)
            filled += n
            slot += 1
    return codes


def permutation_multiplier(n: int, salt: int) -> int:
    """A multiplier coprime with n, so x -> (x * a + c) mod n is a bijection of [0, n)."""
    if n <= 2:
        return 1
    a = int(n * 0.6180339887) + 1 + (salt % 997)
    while math.gcd(a, n) != 1:
        a += 1
    return a


@dataclass
class Ctx:
    """Everything the expressions need: rates, RNG streams, lookup tables."""
    seed: int
    profile: Profile
    p3ke_rows: int
    prakerja_rows: int

    def __post_init__(self) -> None:
        self.geo: Geography = geography()
        self.world = Rng("world")
        self.geo_rng = Rng("geo", fixed_seed=GEO_SEED)
        tpl_codes, tpl_sizes = _p3ke_templates(self.seed)
        self.tpl_codes = lit_array(tpl_codes)
        self.tpl_sizes = lit_array(tpl_sizes)
        self.acct_codes = lit_array(_account_templates(self.seed, self.profile.prakerja.duplicate))


_REF = re.compile(r"`([^`]+)`")


def _hof_identity(sql: str) -> str:
    return f"element_at(transform(array({sql}), barrier_v -> barrier_v), 1)"


def _barrier(prev: str) -> str:
    """0 again, from the previous barrier used twice, through a higher-order function whose lambda
    is a constant (the interpreted part is as small as it gets)."""
    return f"(`{prev}` + `{prev}`) + CASE WHEN exists(array(`{prev}`), barrier_v -> false) THEN 1L ELSE 0L END"


class Plan:
    """A query under construction: `spark.range`, then named SQL expressions, rendered as one nested
    SELECT and analysed once (adding ~100 stages with DataFrame.withColumns costs seconds of driver
    time, each re-analysing the growing plan). Each column goes to the lowest SELECT level above
    the columns it refers to, which keeps the nesting shallow."""

    def __init__(self, spark: SparkSession, rows: int, partitions: int, id_name: str,
                 params: dict[str, int | float]):
        """`params` (the seed, row counts, ...) become columns rather than literals, so that the
        generated Java code does not depend on them and is compiled once per JVM."""
        self.spark = spark
        self._rows, self._partitions, self._id = int(rows), int(partitions), id_name
        self._params = dict(params)
        self._levels: list[list[tuple[str, str]] | list[str]] = []   # stage levels: (name, sql); keep levels: names
        self._keep_at: set[int] = set()
        self._floor = 0                      # new columns go above this level (after a keep)
        self._level_of: dict[str, int] = {id_name: -1, **{n: -1 for n in params}}
        self._inline: dict[str, str] = {}
        self.columns: list[str] = [id_name, *params]

    def _expand(self, sql: str) -> str:
        """Replace references to inline columns by their (already expanded) expressions."""
        if not self._inline:
            return sql
        return _REF.sub(lambda m: self._inline.get(m.group(1), m.group(0)), sql)

    def stage(self, cols: dict[str, Column], inline: bool = False) -> None:
        """Add columns. `inline` ones are not materialised: later expressions get their SQL in
        place of the reference (Spark evaluates a repeated subexpression once per projection), which
        saves a projection level -- use it for cheap expressions."""
        for name, expr in cols.items():
            if name in self._level_of or name in self._inline:
                raise ValueError(f"column staged twice: {name}")
            sql = self._expand(expr.sql)
            if inline:
                self._inline[name] = f"({sql})"
                continue
            refs = [self._level_of[r] for r in _REF.findall(sql) if r in self._level_of]
            level = max([self._floor - 1, *refs]) + 1
            while level in self._keep_at or level >= len(self._levels):
                if level >= len(self._levels):
                    self._levels.append([])
                    break
                level += 1
            self._levels[level].append((name, sql))
            self._level_of[name] = level
            self.columns.append(name)

    def keep(self, names: list[str]) -> None:
        self._levels.append(list(names))
        level = len(self._levels) - 1
        self._keep_at.add(level)
        self._floor = level + 1
        self._level_of = {n: level for n in names}
        self._inline = {n: sql for n, sql in self._inline.items() if set(_REF.findall(sql)) <= set(names)}
        self.columns = list(names)

    def select(self, final: dict[str, Column]) -> DataFrame:
        """The DataFrame: one `selectExpr` per level on top of the already analysed levels below
        (one nested SQL text instead makes the analyser iterate over the whole tree per level).

        Code generation: the generator's expressions are too big for Spark's whole-stage code
        generation, which fuses a chain of projections into one Java method -- beyond the JVM's
        64 KB limit (Spark logs a compile error and interprets) or beyond HotSpot's 8 KB limit for
        JIT compilation (the method then runs in the bytecode interpreter, many times slower). So
        every level also computes a barrier column `_bN`: a number passed through an identity
        lambda (higher-order functions are not whole-stage generated), computed from the previous
        level's barrier used twice (so the optimizer neither prunes it nor merges two levels). Each
        level then runs as its own projection, compiled with Spark's per-expression method
        splitting. The chain is anchored in the final string columns by an empty suffix."""
        df = self.spark.range(0, self._rows, 1, self._partitions).withColumnRenamed("id", self._id)
        zero = f"shiftright(`{self._id}`, 62)"   # 0 for every row, but not a constant to the optimizer
        params = []
        for name, value in self._params.items():
            base = f"CAST({zero} AS DOUBLE) + {float(value)!r}D" if isinstance(value, float) else f"{zero} + {int(value)}L"
            params.append(f"{_hof_identity(base)} AS `{name}`")
        prev = "_b0"
        df = df.selectExpr("*", *params, f"{_hof_identity(zero)} AS `{prev}`")
        used_consts = sorted(set(_REF.findall(" ".join(sql for lvl in self._levels if lvl and isinstance(lvl[0], tuple)
                                                        for _, sql in lvl)
                                           + " " + " ".join(self._expand(e.sql) for e in final.values())))
                             & set(CONSTANTS))
        const_exprs = [f"{CONSTANTS[c]} AS `{c}`" for c in used_consts]
        if const_exprs:
            df = df.selectExpr("*", *const_exprs)
        self._place_late(final)
        levels = [lvl for i, lvl in enumerate(self._levels) if lvl or i in self._keep_at]
        keep_idx = {id(self._levels[i]) for i in self._keep_at}
        out_names = {name: f"_o_{name}" for name in final}
        levels.append([(out_names[n], self._expand(e.sql)) for n, e in final.items()])
        for n, level in enumerate(levels, start=1):
            if id(level) in keep_idx:
                df = df.select(*level, prev)
                if const_exprs:
                    df = df.selectExpr("*", *const_exprs)
                continue
            barrier = f"_b{n}"
            df = df.selectExpr("*", *[f"{sql} AS `{name}`" for name, sql in level],
                               f"{_barrier(prev)} AS `{barrier}`")
            prev = barrier
        anchor = f"substring(CAST(`{prev}` + `{prev}` AS STRING), 1, 0)"
        types = dict(df.dtypes)
        return df.selectExpr(*[
            (f"concat(`{out_names[n]}`, {anchor}) AS `{n}`" if types[out_names[n]] == "string"
             else f"`{out_names[n]}` AS `{n}`")
            for n in final])

    def _place_late(self, final: dict[str, Column]) -> None:
        """Move every column to the last level before its first use (columns are placed as early
        as their inputs allow while staging): a column computed early and used late would be
        copied through every projection in between."""
        n = len(self._levels)
        final_refs = set(_REF.findall(" ".join(self._expand(e.sql) for e in final.values())))
        # consumer level of each name; the final select counts as level n
        first_use: dict[str, int] = {r: n for r in final_refs}
        for i in range(n - 1, -1, -1):
            level = self._levels[i]
            if i in self._keep_at:
                for name in level:
                    first_use[name] = min(first_use.get(name, n), i)
                continue
            moved = []
            for name, sql in list(level):
                target = first_use.get(name, i + 1) - 1
                nxt_keep = min([k for k in self._keep_at if k > i], default=n)
                target = min(target, nxt_keep - 1)
                if target > i:
                    moved.append((name, sql, target))
            for name, sql, target in moved:
                level.remove((name, sql))
                self._levels[target].append((name, sql))
            for name, sql in self._levels[i]:
                for r in _REF.findall(sql):
                    first_use[r] = min(first_use.get(r, n), i)
            for name, sql, target in moved:
                for r in _REF.findall(sql):
                    first_use[r] = min(first_use.get(r, n), target)

    def depth(self) -> int:
        return len(self._levels)


def stage(df: Plan, cols: dict[str, Column], inline: bool = False) -> tuple[Plan, dict[str, Column]]:
    """Add the columns and hand back references to them: later expressions refer to the column by
    name instead of repeating its expression (see `Plan.stage` for `inline`)."""
    df.stage(cols, inline=inline)
    return df, {name: F.col(name) for name in cols}


def _s(col: Column, width: int) -> Column:
    return F.lpad(col.cast("string"), width, "0")


# ---------------------------------------------------------------- geography

def place_name(ctx: Ctx, group: Column, purpose: str, *keys: Column) -> Column:
    g = ctx.geo
    pre = at(g.place_prefix, at(g.prefix_off, group) + ctx.geo_rng.int(purpose + ":p", at(g.prefix_len, group), *keys))
    suf = at(g.place_suffix, at(g.suffix_off, group) + ctx.geo_rng.int(purpose + ":s", at(g.suffix_len, group), *keys))
    return F.concat(pre, at(g.joiner, group), suf)


def n_villages(ctx: Ctx, reg: Column, dist: Column, kota: Column) -> Column:
    return F.when(kota, 4 + ctx.geo_rng.int("nvil_k", 8, reg, dist)).otherwise(6 + ctx.geo_rng.int("nvil", 16, reg, dist))


def village_code(ctx: Ctx, reg: Column, dist: Column, kota: Column, vnum: Column) -> Column:
    """Kemendagri-style 4-digit village code: kelurahan 1001.., desa 2001.."""
    nkel = F.when(kota, F.lit(99)).otherwise(ctx.geo_rng.int("nkel", 3, reg, dist))
    return F.when(vnum < nkel, 1001 + vnum).otherwise(2001 + vnum - nkel)


def region(ctx: Ctx, reg: Column, dist: Column, vnum: Column, prefix: str) -> dict[str, Column]:
    """Codes and names for (regency index, district number, village number)."""
    g = ctx.geo
    pidx = at(g.reg_prov_idx, reg)
    kota = at(g.reg_is_kota, reg)
    group = at(g.prov_group, pidx)
    vcode = village_code(ctx, reg, dist, kota, vnum)
    prov = at(g.prov_codes, pidx)
    rcode = at(g.reg_code, reg)
    return {
        f"{prefix}pidx": pidx,
        f"{prefix}kota": kota,
        f"{prefix}group": group,
        f"{prefix}prov": prov,
        f"{prefix}rcode": rcode,
        f"{prefix}dist": dist,
        f"{prefix}vcode": vcode,
        f"{prefix}kode": (prov.cast("long") * 100_000_000 + rcode * 1_000_000 + dist * 10_000 + vcode).cast("string"),
        f"{prefix}prov_name": at(g.prov_names, pidx),
        f"{prefix}reg_name": at(g.reg_name, reg),
        f"{prefix}reg_base": at(g.reg_base, reg),
        f"{prefix}kec": place_name(ctx, group, "kec", reg.cast("long"), dist.cast("long")),
        f"{prefix}desa": place_name(ctx, group, "desa", reg.cast("long"), dist.cast("long"), vcode.cast("long")),
    }


def pick_regency(ctx: Ctx, table: str, purpose: str, *keys: Column) -> Column:
    values = ctx.geo.pop_table if table == "pop" else ctx.geo.pov_table
    return at(values, ctx.world.int(purpose, len(values), *keys))


def street_address(ctx: Ctx, rng: Rng, purpose: str, group: Column, kota: Column, reg: Column, dist: Column,
                   vcode: Column, *keys: Column) -> Column:
    """'JL. MAWAR NO. 12' in towns; 'DUSUN X' / 'KP. X' / 'BANJAR X' in villages (hamlets are shared
    by the households of one village)."""
    hamlet_idx = rng.int(purpose + ":ham", 6, *keys)
    hamlet = place_name(ctx, group, "hamlet", reg.cast("long"), dist.cast("long"), vcode.cast("long"),
                        hamlet_idx.cast("long"))
    word = at([HAMLET_WORD[g] for g in GROUPS], group)
    street = F.concat(F.lit("JL. "), rng.pick(STREETS, purpose + ":st", *keys), F.lit(" NO. "),
                      (1 + rng.int(purpose + ":no", 150, *keys)).cast("string"))
    rural = F.concat(word, F.lit(" "), hamlet)
    urban_share = F.when(kota, F.lit(0.85)).otherwise(F.lit(0.15))
    return F.when(rng.u(purpose + ":urb", *keys) < urban_share, street).otherwise(rural)


# ---------------------------------------------------------------- households

def household(df: DataFrame, ctx: Ctx, hh: Column, p: str) -> tuple[DataFrame, dict[str, Column]]:
    """Household columns for id column `hh`, named with prefix `p` (e.g. 'h_')."""
    w = ctx.world
    is_np = hh >= NP_BASE
    block = F.shiftright(hh, BLOCK_BITS)
    key = F.when(is_np, hh).otherwise(block)  # P3KE: one village per block
    if hh.sql != f"`{p}hh`":
        df, _ = stage(df, {f"{p}hh": hh})
    hh = F.col(f"{p}hh")
    df, A0 = stage(df, {f"{p}is_np": hh >= NP_BASE,
                        f"{p}key": F.when(hh >= NP_BASE, hh).otherwise(F.shiftright(hh, BLOCK_BITS))}, inline=True)
    is_np, key = A0[f"{p}is_np"], A0[f"{p}key"]
    df, A = stage(df, {
        f"{p}reg": F.when(is_np, pick_regency(ctx, "pop", "reg_np", key)).otherwise(pick_regency(ctx, "pov", "reg", key)),
    })
    A = {**A0, **A}
    reg = A[f"{p}reg"]
    tpl = Rng("p3ke").int("tpl", N_TEMPLATES, block)
    slot = (hh.bitwiseAND(BLOCK - 1)).cast("int")
    size = (F.when(hh >= NP_ADULT_BASE, 1 + w.int("npsize", 5, hh))
            .when(A[f"{p}is_np"], 2 + w.int("npsize", 5, hh))
            .otherwise(at(ctx.tpl_sizes, tpl * BLOCK + slot)))
    df, B = stage(df, {
        f"{p}dist0": 1 + w.int("dist", at(ctx.geo.reg_ndist, reg), key),
        f"{p}size": size,
    })
    df, B2 = stage(df, {f"{p}kota0": at(ctx.geo.reg_is_kota, reg)}, inline=True)
    B = {**B, **B2}
    df, Cc = stage(df, {f"{p}vnum": w.int("vil", n_villages(ctx, reg, B[f"{p}dist0"], B[f"{p}kota0"]), key)}, inline=True)
    R_all = region(ctx, reg, B[f"{p}dist0"], Cc[f"{p}vnum"], p)
    cheap = {f"{p}pidx", f"{p}kota", f"{p}group", f"{p}prov", f"{p}rcode", f"{p}dist"}
    df, R1 = stage(df, {k_: v for k_, v in R_all.items() if k_ in cheap}, inline=True)
    df, R2 = stage(df, {k_: v for k_, v in R_all.items() if k_ not in cheap})
    R = {**R1, **R2}
    poor_east = R[f"{p}group"] == GROUPS.index("east")
    u_desil = w.u("desil", hh)
    desil = (F.when(A[f"{p}is_np"], F.lit(None).cast("int"))
             .when(u_desil < F.when(poor_east, 0.40).otherwise(0.27), 1)
             .when(u_desil < F.when(poor_east, 0.66).otherwise(0.53), 2)
             .when(u_desil < F.when(poor_east, 0.85).otherwise(0.77), 3)
             .otherwise(4))
    head_sex = F.when(w.u("hsex", hh) < 0.86, "L").otherwise("P")
    tri = (w.u("hage1", hh) + w.u("hage2", hh)) / 2
    head_age = (F.when(hh >= NP_ADULT_BASE, 22 + w.int("hage_a", 38, hh))
                .when(w.u("hage_t", hh) < 0.04, 80 + w.int("hage_o", 15, hh))
                .otherwise(20 + F.floor(tri * 62).cast("int")))
    extra_kind = w.category(EXTRA_ROLES, "extra_kind", hh)
    df, D = stage(df, {
        f"{p}desil": desil,
        f"{p}trad": at(ctx.geo.trad_table, R[f"{p}pidx"] * 100 + w.int("trad", 100, hh)),
        f"{p}head_sex": head_sex,
        f"{p}head_age": head_age,
        f"{p}extra_kind0": extra_kind,
    })
    desil, trad, head_sex, head_age = D[f"{p}desil"], D[f"{p}trad"], D[f"{p}head_sex"], D[f"{p}head_age"]
    size = B[f"{p}size"]
    has_spouse = (size >= 2) & F.when(head_sex == "L", w.u("hsp", hh) < 0.92).otherwise(w.u("hsp", hh) < 0.08)
    spouse_age = F.least(F.lit(94), F.greatest(F.lit(17), F.when(
        head_sex == "L", head_age - w.int("sage", 10, hh) + 2).otherwise(head_age + w.int("sage", 9, hh) - 1)))
    df, E = stage(df, {f"{p}has_spouse": has_spouse, f"{p}spouse_age": spouse_age}, inline=True)
    mother_age = F.when((head_sex == "L") & E[f"{p}has_spouse"], E[f"{p}spouse_age"]).otherwise(head_age)
    ek = D[f"{p}extra_kind0"]
    family_lists = {N.BATAK: "BATAK_MARGA", N.CHINESE: "CHINESE_FAMILY", N.EAST: "EAST_FAMILY"}

    def family(purpose: str) -> Column:
        expr = None
        for tid, key_ in family_lists.items():
            val = w.pick(N.token_list(key_), purpose, hh)
            expr = F.when(trad == tid, val) if expr is None else expr.when(trad == tid, val)
        return expr

    kk_date = F.date_add(F.lit("2005-01-01").cast("date"), w.int("kkdate", 6000, hh))
    region6 = R[f"{p}prov"].cast("long") * 10_000 + R[f"{p}rcode"] * 100 + R[f"{p}dist"]
    ddmmyy = F.dayofmonth(kk_date) * 10_000 + F.month(kk_date) * 100 + F.year(kk_date) % 100
    no_kk = (region6 * 10_000_000_000 + ddmmyy.cast("long") * 10_000 + 1 + w.int("kkser", 9999, hh)).cast("string")
    addr = street_address(ctx, w, "addr", R[f"{p}group"], R[f"{p}kota"], reg, R[f"{p}dist"], R[f"{p}vcode"], hh)
    pkh = at([0.45, 0.35, 0.22, 0.12], desil - 1)
    bpnt = at([0.62, 0.47, 0.33, 0.22], desil - 1)
    df, G = stage(df, {
        f"{p}pkh": F.when(desil.isNull(), False).otherwise(w.u("pkh", hh) < pkh),
        f"{p}bpnt": F.when(desil.isNull(), False).otherwise(w.u("bpnt", hh) < bpnt),
        f"{p}first_child_age": mother_age - 19 - w.int("fca", 13, hh),
        f"{p}extra": (size >= 3) & (w.u("extra", hh) < 0.20),
        f"{p}extra_kind": F.when((ek == "CUCU") & (head_age < 45), F.lit("FAMILI LAIN")).otherwise(ek),
        f"{p}family": family("fam"),
        f"{p}wife_family": family("wfam"),
        f"{p}other_family": family("ofam"),
        f"{p}caste": F.when(w.u("caste", hh) < 0.10, w.int("caste_k", 4, hh)),
        f"{p}noble": w.u("noble", hh) < 0.08,
        f"{p}no_kk": no_kk,
        f"{p}alamat": addr,
        f"{p}rt": _s(1 + w.int("rt", 14, hh), 3),
        f"{p}rw": _s(1 + w.int("rw", 8, hh), 3),
    })
    return df, {**A, **B, **Cc, **R, **D, **E, **G}


# ---------------------------------------------------------------- members

def member(df: DataFrame, ctx: Ctx, hh: Column, k: Column, H: dict[str, Column], p: str, m: str
           ) -> tuple[DataFrame, dict[str, Column]]:
    """Role, sex, age and birth date of member k of household hh (household columns H with prefix p);
    columns named with prefix m."""
    w = ctx.world
    prof = ctx.profile
    size = H[f"{p}size"]
    has_sp = H[f"{p}has_spouse"]
    head_sex = H[f"{p}head_sex"]
    extra_kind = H[f"{p}extra_kind"]
    is_extra_c = H[f"{p}extra"] & (k == size - 1) & (k >= 2)
    df, A = stage(df, {
        f"{m}is_head": k == 0,
        f"{m}is_spouse": (k == 1) & has_sp,
        f"{m}is_extra": is_extra_c,
        f"{m}child_order": k - F.when(has_sp, 1).otherwise(0),
    }, inline=True)
    is_head, is_sp, is_extra = A[f"{m}is_head"], A[f"{m}is_spouse"], A[f"{m}is_extra"]
    is_child = ~is_head & ~is_sp & ~is_extra
    twin = is_child & (A[f"{m}child_order"] >= 2) & (w.u("twin", hh, k) < prof.twin_rate)
    df, B = stage(df, {f"{m}is_child": is_child, f"{m}bk": F.when(twin, k - 1).otherwise(k)}, inline=True)
    bk = B[f"{m}bk"]
    sp = F.when(has_sp, 1).otherwise(0)
    child_age_raw = H[f"{p}first_child_age"] - (bk - sp - 1) * 2 - w.int("cjit", 3, hh, bk)
    child_age = F.when(child_age_raw < 0, w.int("cyoung", 5, hh, k)).otherwise(child_age_raw)
    head_age = H[f"{p}head_age"]
    extra_age = (F.when(extra_kind.isin("ORANG TUA", "MERTUA"), head_age + 20 + w.int("xage", 15, hh))
                 .when(extra_kind == "CUCU", w.int("xage", 12, hh))
                 .when(extra_kind == "MENANTU", F.greatest(F.lit(17), H[f"{p}first_child_age"] + w.int("xage", 5, hh) - 2))
                 .otherwise(5 + w.int("xage", 60, hh)))
    age = (F.when(is_head, head_age).when(is_sp, H[f"{p}spouse_age"]).when(is_extra, extra_age)
           .otherwise(child_age))
    other = F.when(head_sex == "L", "P").otherwise("L")
    sex = (F.when(is_head, head_sex).when(is_sp, other)
           .when(is_extra & extra_kind.isin("ORANG TUA", "MERTUA"), F.when(w.u("sex", hh, k) < 0.7, "P").otherwise("L"))
           .otherwise(F.when(w.u("sex", hh, k) < 0.5, "L").otherwise("P")))
    role = (F.when(is_head, ROLE_HEAD)
            .when(is_sp, F.when(head_sex == "L", ROLE_WIFE).otherwise(ROLE_HUSBAND))
            .when(is_extra, extra_kind)
            .otherwise(ROLE_CHILD))
    df, Cc = stage(df, {f"{m}age": F.least(F.lit(94), F.greatest(F.lit(0), age)), f"{m}sex": sex, f"{m}role": role})
    df, D = stage(df, {f"{m}dob0": F.date_sub(F.add_months(F.lit(REF_DATE).cast("date"), -12 * Cc[f"{m}age"]),
                                             w.int("doy", 365, hh, bk))}, inline=True)
    dob = D[f"{m}dob0"]
    by = F.year(dob)
    placeholder = (by < 2010) & (w.u("regph", hh, k) < F.when(by < 1975, prof.registry_placeholder_dob)
                                 .otherwise(prof.registry_placeholder_dob / 6))
    ph_kind = w.u("regph_k", hh, k)
    dob_reg = F.when(placeholder, F.when(ph_kind < 0.55, F.make_date(by, F.lit(7), F.lit(1)))
                     .when(ph_kind < 0.85, F.make_date(by, F.lit(12), F.lit(31)))
                     .otherwise(F.make_date(by, F.lit(1), F.lit(1)))).otherwise(dob)
    df, E = stage(df, {f"{m}dob": dob_reg})
    return df, {**A, **B, **Cc, **E}


def person_nik(df: DataFrame, ctx: Ctx, hh: Column, k: Column, H: dict[str, Column], p: str,
               M: dict[str, Column], m: str, q: str) -> tuple[DataFrame, dict[str, Column]]:
    """Columns {q}nik (as issued), {q}nik_region (6-digit region of first registration) and
    {q}nik_mismatch (NIK issued with a wrong birth date)."""
    w = ctx.world
    prof = ctx.profile
    role, sex, dob = M[f"{m}role"], M[f"{m}sex"], M[f"{m}dob"]
    factor = (F.when(role == ROLE_HEAD, 1.2).when(role.isin(ROLE_WIFE, ROLE_HUSBAND), 2.0)
              .when(role == ROLE_CHILD, 0.25).otherwise(2.5))
    pidx = H[f"{p}pidx"]
    same_prov = w.u("mv_same", hh, k) < 0.6
    oreg = F.when(same_prov, at(ctx.geo.prov_reg_start, pidx) + w.int("mv_reg", at(ctx.geo.prov_reg_count, pidx), hh, k)
                  ).otherwise(pick_regency(ctx, "pop", "mv_reg2", hh, k))
    df, A = stage(df, {
        f"{q}mover": w.u("mover", hh, k) < F.least(F.lit(0.9), factor * prof.mover_rate),
        f"{q}oreg": oreg,
    })
    df, A2 = stage(df, {f"{q}nik_mismatch": w.u("nik_mm", hh, k) < prof.nik_birth_mismatch}, inline=True)
    A = {**A, **A2}
    mover, oreg = A[f"{q}mover"], A[f"{q}oreg"]
    odist = 1 + w.int("mv_dist", at(ctx.geo.reg_ndist, oreg), hh, k)
    prov = F.when(mover, at(ctx.geo.prov_codes, at(ctx.geo.reg_prov_idx, oreg))).otherwise(H[f"{p}prov"])
    rcode = F.when(mover, at(ctx.geo.reg_code, oreg)).otherwise(H[f"{p}rcode"])
    dist = F.when(mover, odist).otherwise(H[f"{p}dist"])
    mm_kind = w.int("nik_mm_k", 3, hh, k)
    nik_date = F.when(A[f"{q}nik_mismatch"], F.when(mm_kind == 0, F.date_add(dob, 1 + w.int("nik_mm_d", 27, hh, k)))
                      .when(mm_kind == 1, F.add_months(dob, 12))
                      .otherwise(F.make_date(F.year(dob), F.lit(1), F.lit(1)))).otherwise(dob)
    df, B = stage(df, {f"{q}nik_date": nik_date}, inline=True)
    region6 = prov.cast("long") * 10_000 + rcode * 100 + dist          # province codes >= 11: always 6 digits
    df, B2 = stage(df, {f"{q}nik_region6": region6}, inline=True)
    df, B3 = stage(df, {f"{q}nik_region": B2[f"{q}nik_region6"].cast("string")}, inline=True)
    B = {**B, **B2, **B3}
    nd = B[f"{q}nik_date"]
    day = F.dayofmonth(nd) + F.when(sex == "P", 40).otherwise(0)
    ddmmyy = day * 10_000 + F.month(nd) * 100 + F.year(nd) % 100
    nik = (B[f"{q}nik_region6"] * 10_000_000_000 + ddmmyy.cast("long") * 10_000 + 1 + w.int("serial", 9999, hh, k)).cast("string")
    df, Cc = stage(df, {f"{q}nik": nik})
    return df, {f"{q}nik": Cc[f"{q}nik"], f"{q}nik_region": B[f"{q}nik_region"],
                f"{q}nik_mismatch": A[f"{q}nik_mismatch"]}


# ---------------------------------------------------------------- names

def _pick(ctx: Ctx, key: str, purpose: str, hh: Column, k: Column) -> Column:
    return ctx.world.pick(N.token_list(key), purpose, hh, k)


def person_name(df: DataFrame, ctx: Ctx, hh: Column, k: Column, H: dict[str, Column], p: str,
                M: dict[str, Column], m: str, q: str) -> tuple[DataFrame, dict[str, Column]]:
    """Column {q}name: the person's name as the civil registry has it (no titles), upper case."""
    w = ctx.world
    trad = H[f"{p}trad"]
    by = F.year(M[f"{m}dob"])
    cohort = F.when(by < 1970, 0).when(by < 1990, 1).otherwise(2)
    mono_share = at([s for t in range(9) for s in N.MONONYM_SHARE[t]], trad * 3 + cohort)
    arab_share = at([N.ARABIC_SHARE[t] for t in range(9)], trad)
    is_head, is_sp, is_child = M[f"{m}is_head"], M[f"{m}is_spouse"], M[f"{m}is_child"]
    male_c = M[f"{m}sex"] == "L"
    # family names: children and a male head carry the household's; a wife (or a widow head) her own
    own_family_c = F.when(is_sp | (is_head & ~male_c), H[f"{p}wife_family"]).when(
        is_head | is_child, H[f"{p}family"]).otherwise(H[f"{p}other_family"])
    df, Am = stage(df, {f"{q}male": male_c})
    df, A = stage(df, {f"{q}is_mono": w.u("mono", hh, k) < mono_share,
                       f"{q}three": w.u("three", hh, k) < F.when(cohort == 2, 0.35).otherwise(0.08),
                       f"{q}own_family": own_family_c}, inline=True)
    male, is_mono, three, own_family = Am[f"{q}male"], A[f"{q}is_mono"], A[f"{q}three"], A[f"{q}own_family"]
    is_arab = ~is_mono & (w.u("arab", hh, k) < arab_share)

    def pk(key_m: str, key_f: str, purpose: str) -> Column:
        return F.when(male, _pick(ctx, key_m, purpose, hh, k)).otherwise(_pick(ctx, key_f, purpose, hh, k))

    mid = F.when(three, pk("MODERN_M_MID", "MODERN_F_MID", "mid"))

    java = F.when(is_mono, pk("JAVA_M_MONO", "JAVA_F_MONO", "g1")).otherwise(
        F.concat_ws(" ", pk("JAVA_M_FIRST", "JAVA_F_FIRST", "g1"), mid, pk("JAVA_M_LAST", "JAVA_F_LAST", "g2")))
    sunda = F.when(is_mono, pk("SUNDA_M_FIRST", "SUNDA_F_FIRST", "g1")).otherwise(
        F.concat_ws(" ", pk("SUNDA_M_FIRST", "SUNDA_F_FIRST", "g1"), mid, pk("SUNDA_M_LAST", "SUNDA_F_LAST", "g2")))
    batak = F.concat_ws(" ", pk("BATAK_M_FIRST", "BATAK_F_FIRST", "g1"),
                        F.when(w.u("b2", hh, k) < 0.3, pk("BATAK_M_FIRST", "BATAK_F_FIRST", "g2")), own_family)
    minang = F.when(is_mono, pk("MINANG_M_FIRST", "MINANG_F_FIRST", "g1")).otherwise(
        F.concat_ws(" ", pk("MINANG_M_FIRST", "MINANG_F_FIRST", "g1"), pk("MINANG_M_LAST", "MINANG_F_LAST", "g2")))
    # Balinese: I/Ni, birth-order name (children by their order, others at random), given name(s)
    order = F.when(is_child, M[f"{m}child_order"]).otherwise(1 + w.int("order", 4, hh, k))
    order_i = (order - 1) % 4
    order_name = (F.when(order_i == 0, pk("BALI_ORDER1_M", "BALI_ORDER1_F", "ord"))
                  .when(order_i == 1, _pick(ctx, "BALI_ORDER2", "ord", hh, k))
                  .when(order_i == 2, _pick(ctx, "BALI_ORDER3", "ord", hh, k))
                  .otherwise(_pick(ctx, "BALI_ORDER4", "ord", hh, k)))
    caste = F.when(is_head | is_child, H[f"{p}caste"])
    bali_lead = (F.when(caste == 0, F.when(male, "IDA BAGUS").otherwise("IDA AYU"))
                 .when(caste == 1, F.when(male, "ANAK AGUNG NGURAH").otherwise("ANAK AGUNG AYU"))
                 .when(caste == 2, F.when(male, "I GUSTI NGURAH").otherwise("I GUSTI AYU"))
                 .when(caste == 3, F.when(male, "I DEWA").otherwise("DESAK"))
                 .otherwise(F.when(male, "I").otherwise("NI")))
    bali = F.concat_ws(" ", bali_lead, F.when(caste.isNull() | (caste == 3), order_name),
                       pk("BALI_M_GIVEN", "BALI_F_GIVEN", "g1"),
                       F.when(w.u("b2", hh, k) < 0.3, pk("BALI_M_GIVEN", "BALI_F_GIVEN", "g2")))
    noble = H[f"{p}noble"] & (is_head | is_child)
    pidx_prov = H[f"{p}prov"]
    bugis_lead = F.when(noble, F.lit("ANDI")).when(
        (pidx_prov == 74) & (w.u("buton", hh, k) < 0.2), F.when(male, "LA").otherwise("WA"))
    bugis = F.concat_ws(" ", bugis_lead, pk("BUGIS_M_FIRST", "BUGIS_F_FIRST", "g1"),
                        F.when(~is_mono, _pick(ctx, "BUGIS_LAST", "g2", hh, k)))
    melayu_lead = (F.when(noble & (pidx_prov == 11), F.when(male, "TEUKU").otherwise("CUT"))
                   .when(noble & (pidx_prov == 52), F.when(male, "LALU").otherwise("BAIQ")))
    melayu = F.concat_ws(" ", melayu_lead, pk("MELAYU_M_FIRST", "MELAYU_F_FIRST", "g1"),
                         F.when(~is_mono, pk("MELAYU_M_LAST", "MELAYU_F_LAST", "g2")))
    chinese_family = F.when(w.u("cfam", hh, k) < 0.6, own_family).otherwise(_pick(ctx, "CHINESE_FAMILY", "cf", hh, k))
    chinese = F.concat_ws(" ", pk("CHINESE_M_FIRST", "CHINESE_F_FIRST", "g1"), F.when(~is_mono, chinese_family))
    east = F.concat_ws(" ", pk("EAST_M_FIRST", "EAST_F_FIRST", "g1"),
                       F.when(w.u("b2", hh, k) < 0.3, pk("EAST_M_FIRST", "EAST_F_FIRST", "g2")),
                       F.when(~is_mono, own_family))
    # Arabic-derived names: MUHAMMAD/AHMAD/ABDUL or SITI/NUR/NURUL first
    lead0 = pk("ARAB_M_LEAD", "ARAB_F_LEAD", "alead")
    df, L = stage(df, {f"{q}lead": F.when((trad == N.BUGIS) & (lead0 == "SITI") & (w.u("sitti", hh, k) < 0.5),
                                          F.lit("SITTI")).otherwise(lead0)}, inline=True)
    lead = L[f"{q}lead"]
    second = F.when(lead == "ABDUL", _pick(ctx, "ABDUL_NEXT", "a2", hh, k)).otherwise(
        F.when(w.u("a2k", hh, k) < 0.5, pk("ARAB_M", "ARAB_F", "a2")).otherwise(
            F.when(trad == N.SUNDA, pk("SUNDA_M_FIRST", "SUNDA_F_LAST", "a2b"))
            .when(trad == N.MINANG, pk("MINANG_M_FIRST", "MINANG_F_FIRST", "a2b"))
            .when(trad == N.BUGIS, pk("BUGIS_M_FIRST", "BUGIS_F_FIRST", "a2b"))
            .when(trad == N.MELAYU, pk("MELAYU_M_FIRST", "MELAYU_F_FIRST", "a2b"))
            .otherwise(pk("JAVA_M_LAST", "JAVA_F_LAST", "a2b"))))
    third = (F.when(trad == N.BATAK, own_family)
             .when(three | (w.u("a3", hh, k) < 0.15), pk("MELAYU_M_LAST", "MELAYU_F_LAST", "a3")))
    arab = F.concat_ws(" ", F.when(trad == N.BUGIS, bugis_lead).when(trad == N.MELAYU, melayu_lead), lead, second, third)
    native = (F.when(trad == N.JAVA, java).when(trad == N.SUNDA, sunda).when(trad == N.BATAK, batak)
              .when(trad == N.MINANG, minang).when(trad == N.BALI, bali).when(trad == N.BUGIS, bugis)
              .when(trad == N.MELAYU, melayu).when(trad == N.CHINESE, chinese).otherwise(east))
    df, Z = stage(df, {f"{q}name": F.when(is_arab, arab).otherwise(native)})
    return df, Z


# ---------------------------------------------------------------- education, work, titles

def education(ctx: Ctx, hh: Column, k: Column, age: Column, by: Column, is_np: Column) -> Column:
    """Education level 0..8 (see EDU_P3KE)."""
    w = ctx.world
    u = w.u("edu", hh, k)
    # u ** power < cum  <=>  u < cum ** (1 / power): thresholds per (outside P3KE, cohort), no pow() per row
    group = F.when(is_np, 3).otherwise(0) + F.when(by >= 1985, 0).when(by >= 1965, 1).otherwise(2)
    table = [c ** (1 / (pn * pc)) for pn in (1.0, 0.55) for pc in (0.75, 1.0, 1.4) for c in EDU_ADULT_CUM[:-1]]
    n_thr = len(EDU_ADULT_CUM) - 1
    adult = None
    for level in range(n_thr):
        cond = u < at(table, group * n_thr + level)
        adult = F.when(cond, level) if adult is None else adult.when(cond, level)
    adult = adult.otherwise(n_thr)
    return (F.when(age < 7, 0).when(age < 13, 1).when(age < 16, 2).when(age < 19, F.least(adult, F.lit(3)))
            .when(age < 23, F.least(adult, F.lit(5))).otherwise(adult))


def occupation(ctx: Ctx, hh: Column, k: Column, age: Column, sex: Column, edu: Column, kota: Column) -> Column:
    w = ctx.world
    working_m = F.when(kota, w.pick(JOBS_URBAN_M, "job", hh, k)).otherwise(w.pick(JOBS_RURAL_M, "job", hh, k))
    return (F.when(age < 7, "BELUM/TIDAK BEKERJA")
            .when(age < 19, F.when(w.u("school", hh, k) < 0.85, "PELAJAR/MAHASISWA").otherwise("BELUM/TIDAK BEKERJA"))
            .when((age < 24) & (edu >= 5), "PELAJAR/MAHASISWA")
            .when(age >= 66, F.when(sex == "L", w.pick(JOBS_OLD_M, "job", hh, k)).otherwise(w.pick(JOBS_OLD_F, "job", hh, k)))
            .when(sex == "L", working_m)
            .otherwise(w.pick(JOBS_F, "job", hh, k)))


def titles(ctx: Ctx, hh: Column, k: Column, sex: Column, age: Column, by: Column, edu: Column,
           trad: Column) -> tuple[Column, Column]:
    """(prefix titles, degree suffix) the person really has, or nulls."""
    w = ctx.world
    male = sex == "L"
    muslim = trad.isin(*MUSLIM_TRADITIONS)
    hajj = muslim & (age >= 40) & (w.u("hajj", hh, k) < 0.06)
    hajj_t = F.when(hajj, F.when(male, N.TITLE_HAJJ_M).otherwise(N.TITLE_HAJJ_F))
    has_degree = w.u("deg", hh, k) < 0.6
    old_style = (by < 1970) & (edu >= 7) & has_degree
    old_prefix = F.when(old_style, F.when(male, w.pick(["DRS.", "DRS.", "IR."], "oldt", hh, k)).otherwise("DRA."))
    prefix = F.concat_ws(" ", old_prefix, hajj_t)
    s1 = w.pick(N.DEGREES_S1, "s1", hh, k)
    suffix = (F.when(~has_degree | old_style, F.lit(None).cast("string"))
              .when(edu == 6, w.pick(N.DEGREES_D3, "d3", hh, k))
              .when(edu == 7, s1)
              .when(edu == 8, F.concat(s1, F.lit(", "), w.pick(N.DEGREES_S2, "s2", hh, k))))
    return F.when(prefix != "", prefix), suffix


def generic_title(rng: Rng, purpose: str, key: Column, sex: Column, age: Column, trad: Column) -> tuple[Column, Column]:
    """A plausible title for a record that shows one although the person has none recorded."""
    muslim = trad.isin(*MUSLIM_TRADITIONS)
    pre = F.when(muslim & (age >= 35), F.when(sex == "L", N.TITLE_HAJJ_M).otherwise(N.TITLE_HAJJ_F))
    suf = F.when(pre.isNull(), rng.pick(N.DEGREES_S1 + N.DEGREES_D3, purpose + ":suf", key))
    return pre, suf


def phone_national(ctx: Ctx, hh: Column, k: Column, salt: Column) -> Column:
    """A mobile number without the leading 0 / 62: 8xx then 7-8 digits."""
    w = ctx.world
    digits = F.when(w.u("ph_len", hh, k, salt) < 0.6, _s(w.int("ph_8", 100_000_000, hh, k, salt), 8)).otherwise(
        _s(w.int("ph_7", 10_000_000, hh, k, salt), 7))
    return F.concat(w.pick(PHONE_PREFIXES, "ph_pre", hh, k, salt), digits)
