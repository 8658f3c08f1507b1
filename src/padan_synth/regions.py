"""Synthetic geography on Kemendagri codes.

Province codes and names are real (from `padan.reference`); regency counts per province are close
to the real ones (kabupaten 01-69, kota 71-99); regency, district and village *names* are generated
from common Indonesian place-name parts and are not real places' names. The geography does not
depend on the generator's seed, so runs with different seeds share it.

Population weights are rough 2020 census figures (millions); the poverty rates are rough 2021
figures (%), used to weight where P3KE households live (the poor population), while Prakerja
registrants follow the general population.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from padan.reference import provinces
from padan_synth.names import BALI, BATAK, BUGIS, CHINESE, EAST, JAVA, MELAYU, MINANG, SUNDA

GEO_SEED = 20220630

# code: (population millions, poverty %, kabupaten, kota, place-name group, tradition mix)
_PROVINCE_FACTS: dict[str, tuple[float, float, int, int, str, dict[int, float]]] = {
    "11": (5.3, 15.3, 18, 5, "sumatra", {MELAYU: 0.90, JAVA: 0.10}),
    "12": (14.8, 8.5, 25, 8, "sumatra", {BATAK: 0.45, MELAYU: 0.25, JAVA: 0.20, CHINESE: 0.10}),
    "13": (5.5, 6.6, 12, 7, "sumatra", {MINANG: 0.90, BATAK: 0.05, JAVA: 0.05}),
    "14": (6.4, 7.1, 10, 2, "sumatra", {MELAYU: 0.55, JAVA: 0.25, MINANG: 0.08, BATAK: 0.07, CHINESE: 0.05}),
    "15": (3.5, 8.1, 9, 2, "sumatra", {MELAYU: 0.60, JAVA: 0.30, MINANG: 0.05, CHINESE: 0.05}),
    "16": (8.5, 12.8, 13, 4, "sumatra", {MELAYU: 0.65, JAVA: 0.30, CHINESE: 0.05}),
    "17": (2.0, 15.2, 9, 1, "sumatra", {MELAYU: 0.65, JAVA: 0.30, MINANG: 0.05}),
    "18": (9.0, 12.6, 13, 2, "sumatra", {JAVA: 0.60, MELAYU: 0.28, SUNDA: 0.10, BALI: 0.02}),
    "19": (1.5, 4.9, 6, 1, "sumatra", {MELAYU: 0.75, CHINESE: 0.20, JAVA: 0.05}),
    "21": (2.1, 6.1, 5, 2, "sumatra", {MELAYU: 0.50, JAVA: 0.20, CHINESE: 0.15, BATAK: 0.10, MINANG: 0.05}),
    "31": (10.6, 4.7, 1, 5, "java", {JAVA: 0.38, SUNDA: 0.17, MELAYU: 0.17, BATAK: 0.07, CHINESE: 0.09,
                                     MINANG: 0.06, BUGIS: 0.03, EAST: 0.03}),
    "32": (48.3, 8.4, 18, 9, "sunda", {SUNDA: 0.80, JAVA: 0.15, MELAYU: 0.03, CHINESE: 0.02}),
    "33": (36.5, 11.8, 29, 6, "java", {JAVA: 0.96, CHINESE: 0.02, MELAYU: 0.02}),
    "34": (3.7, 12.8, 4, 1, "java", {JAVA: 0.97, CHINESE: 0.02, MELAYU: 0.01}),
    "35": (41.0, 11.4, 29, 9, "java", {JAVA: 0.85, MELAYU: 0.13, CHINESE: 0.02}),
    "36": (11.9, 6.5, 4, 4, "sunda", {SUNDA: 0.60, JAVA: 0.25, MELAYU: 0.13, CHINESE: 0.02}),
    "51": (4.3, 4.7, 8, 1, "bali", {BALI: 0.86, JAVA: 0.10, MELAYU: 0.04}),
    "52": (5.3, 14.1, 8, 2, "bali", {MELAYU: 0.88, BALI: 0.10, BUGIS: 0.02}),
    "53": (5.3, 20.4, 21, 1, "east", {EAST: 0.90, MELAYU: 0.10}),
    "61": (5.4, 7.2, 12, 2, "kalimantan", {MELAYU: 0.50, EAST: 0.20, CHINESE: 0.15, JAVA: 0.15}),
    "62": (2.7, 5.2, 13, 1, "kalimantan", {MELAYU: 0.45, JAVA: 0.30, EAST: 0.15, BUGIS: 0.10}),
    "63": (4.1, 4.8, 11, 2, "kalimantan", {MELAYU: 0.75, JAVA: 0.20, BUGIS: 0.05}),
    "64": (3.8, 6.5, 7, 3, "kalimantan", {MELAYU: 0.30, JAVA: 0.35, BUGIS: 0.25, EAST: 0.10}),
    "65": (0.7, 6.8, 4, 1, "kalimantan", {MELAYU: 0.40, BUGIS: 0.30, JAVA: 0.15, EAST: 0.15}),
    "71": (2.6, 7.6, 11, 4, "sulawesi", {EAST: 0.80, MELAYU: 0.20}),
    "72": (3.0, 12.2, 12, 1, "sulawesi", {BUGIS: 0.45, MELAYU: 0.30, JAVA: 0.15, BALI: 0.02, EAST: 0.08}),
    "73": (9.1, 8.7, 21, 3, "sulawesi", {BUGIS: 0.92, EAST: 0.05, JAVA: 0.03}),
    "74": (2.6, 11.7, 15, 2, "sulawesi", {BUGIS: 0.70, MELAYU: 0.15, JAVA: 0.10, BALI: 0.05}),
    "75": (1.2, 15.4, 5, 1, "sulawesi", {MELAYU: 0.85, BUGIS: 0.15}),
    "76": (1.4, 11.9, 6, 0, "sulawesi", {BUGIS: 0.80, MELAYU: 0.15, JAVA: 0.05}),
    "81": (1.8, 16.3, 9, 2, "east", {EAST: 0.55, MELAYU: 0.40, BUGIS: 0.05}),
    "82": (1.3, 6.4, 8, 2, "east", {MELAYU: 0.70, EAST: 0.25, BUGIS: 0.05}),
    "91": (1.0, 27.0, 8, 1, "east", {EAST: 0.60, JAVA: 0.20, BUGIS: 0.12, MELAYU: 0.08}),
    "92": (0.6, 21.0, 7, 0, "east", {EAST: 0.55, JAVA: 0.25, BUGIS: 0.12, MELAYU: 0.08}),
    "93": (0.5, 25.0, 4, 0, "east", {EAST: 0.65, JAVA: 0.20, BUGIS: 0.10, MELAYU: 0.05}),
    "94": (1.4, 29.0, 8, 0, "east", {EAST: 0.80, JAVA: 0.10, BUGIS: 0.10}),
    "95": (1.4, 32.0, 8, 0, "east", {EAST: 0.92, JAVA: 0.05, BUGIS: 0.03}),
    "96": (0.6, 19.0, 5, 1, "east", {EAST: 0.55, JAVA: 0.20, BUGIS: 0.15, MELAYU: 0.10}),
}

GROUPS = ("java", "sunda", "sumatra", "bali", "kalimantan", "sulawesi", "east")

# Place-name parts per group: a prefix word and a suffix word, joined without a space ("" joiner)
# or with one (" " joiner).
_PLACE_PARTS: dict[str, tuple[str, str, str]] = {
    "java": ("WONO SUMBER KARANG BANJAR TEGAL NGALI PURWO SIDO KEDUNG GUNUNG MARGO TRI SUKO JATI "
             "REJO PANDAN SELO", "REJO HARJO SARI MULYO AGUNG KULON WETAN LOR KIDUL ASRI JATI TENGAH ANYAR "
             "DADI MAKMUR KERTO WARNO", ""),
    "sunda": ("SUKA CI MEKAR SINDANG PASIR GUNUNG MARGA KARANG SIRNA TANJUNG BOJONG LEUWI CIKA WANA "
              "JAYA SUMUR", "MAJU JAYA MULYA SARI ASIH WANGI RAJA GALIH LAYA BARU RESMI RAHAYU MANAH "
              "KERTA NAGARA HURIP RAME", ""),
    "sumatra": ("SUNGAI BUKIT TANJUNG PADANG KOTA LUBUK PASAR AIR TELUK SIMPANG BATU PULAU KAMPUNG "
                "TALANG RANTAU", "BARU RAYA TINGGI PANJANG LAMA HILIR HULU TENGAH INDAH JAYA MAKMUR PERMAI "
                "SARI MANDIRI BERINGIN DALAM", " "),
    "bali": ("BANJAR TEGAL SUKA PE BA SAN KE DAWAN SIDE TAMAN BATU BUNG", "SARI ASIH WANGI GIRI "
             "KERTA JATI LUWIH SEMADI AMERTA BUANA DESA ANYAR TENGAH", ""),
    "kalimantan": ("SUNGAI TANJUNG PULAU MUARA BATU TELUK LOK PASAR KUALA SEI HANDIL ANJIR", "RAYA "
                   "BARU PANJANG BESAR KECIL PUTIH HITAM INDAH TENGAH HULU HILIR DALAM MUKA", " "),
    "sulawesi": ("BONTO BULU TANETE BATU LEMBANG PARANG SALU BORONG TAMAN LAPPA", "MAJANNANG MATE RAYA LOE "
                 "BARU SELATAN UTARA TIMUR BARAT LEMO TALLO RANNU JAYA", " "),
    "east": ("WAI KA LA MA NA TO BO SE RU WE LO NDA O", "NGGA LI WO RA LAKA TENA WAE RUA MBE SAI DO "
             "LEMA PURA KOTO", ""),
}

STREETS = ("MAWAR MELATI KENANGA ANGGREK FLAMBOYAN CEMPAKA NANGKA MANGGA DURIAN RAMBUTAN SAWO JERUK "
           "PERINTIS MERDEKA PAHLAWAN PEMUDA KELAPA BERINGIN CENDANA TERATAI DAHLIA SERUNI BOUGENVILLE "
           "SEMANGKA DELIMA KAMBOJA AKASIA BAKUNG PERMATA ASRI DAMAI SEJAHTERA BAHAGIA KEMUNING").split()
HAMLET_WORD = {"java": "DUSUN", "sunda": "KP.", "sumatra": "DUSUN", "bali": "BANJAR",
               "kalimantan": "DUSUN", "sulawesi": "DUSUN", "east": "DUSUN"}


@dataclass(frozen=True)
class Geography:
    prov_codes: list[int]          # per province index
    prov_names: list[str]
    prov_group: list[int]          # index into GROUPS
    reg_prov_idx: list[int]        # per regency index
    reg_code: list[int]
    reg_is_kota: list[bool]
    reg_ndist: list[int]
    reg_name: list[str]            # 'KAB. X' / 'KOTA X'
    reg_base: list[str]            # 'X'
    prov_reg_start: list[int]      # per province index: first regency index and count
    prov_reg_count: list[int]
    pop_table: list[int]           # quantized sampling table of regency indices (population weights)
    pov_table: list[int]           # (poverty weights)
    trad_table: list[int]          # per province index x 100: tradition id
    place_prefix: list[str]        # flattened place-name parts, with per-group offset/length
    place_suffix: list[str]
    prefix_off: list[int]
    prefix_len: list[int]
    suffix_off: list[int]
    suffix_len: list[int]
    joiner: list[str]


def _place(rng: random.Random, group: str) -> str:
    pre, suf, join = _PLACE_PARTS[group]
    return rng.choice(pre.split()) + join + rng.choice(suf.split())


def _quantize(weights: list[float], size: int) -> list[int]:
    """A table of `size` slots in which index i fills about weights[i]/sum of the slots (each >= 1)."""
    total = sum(weights)
    raw = [w / total * size for w in weights]
    slots = [max(1, int(r)) for r in raw]
    # hand out the remainder to the largest fractional parts
    short = size - sum(slots)
    order = sorted(range(len(weights)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while short > 0:
        slots[order[i % len(order)]] += 1
        short -= 1
        i += 1
    while short < 0:  # too many minimum slots: trim the biggest
        j = max(range(len(slots)), key=lambda k: slots[k])
        slots[j] -= 1
        short += 1
    table: list[int] = []
    for idx, n in enumerate(slots):
        table.extend([idx] * n)
    return table


@lru_cache(maxsize=1)
def geography() -> Geography:
    rng = random.Random(GEO_SEED)
    names = {code: name for code, name, _ in provinces()}
    prov_codes, prov_names, prov_group = [], [], []
    reg_prov_idx, reg_code, reg_kota, reg_ndist, reg_name, reg_base = [], [], [], [], [], []
    start, count, pop_w, pov_w, trad = [], [], [], [], []
    used: set[str] = set()
    for p_idx, (code, facts) in enumerate(sorted(_PROVINCE_FACTS.items())):
        pop, poverty, n_kab, n_kota, group, mix = facts
        prov_codes.append(int(code))
        prov_names.append(names[code])
        prov_group.append(GROUPS.index(group))
        start.append(len(reg_code))
        regs = [(i + 1, False) for i in range(n_kab)] + [(71 + i, True) for i in range(n_kota)]
        count.append(len(regs))
        jitters = [rng.lognormvariate(0, 0.5) * (1.6 if kota else 1.0) for _, kota in regs]
        scale = sum(jitters)
        for (rcode, kota), jit in zip(regs, jitters):
            base = _place(rng, group)
            while base in used:
                base = _place(rng, group)
            used.add(base)
            reg_prov_idx.append(p_idx)
            reg_code.append(rcode)
            reg_kota.append(kota)
            reg_ndist.append(rng.randint(4, 14) if kota else rng.randint(8, 30))
            reg_name.append(("KOTA " if kota else "KAB. ") + base)
            reg_base.append(base)
            share = pop * jit / scale
            pop_w.append(share)
            pov_w.append(share * poverty * (0.6 if kota else 1.0))
        cum = 0.0
        row = []
        for tid, share in mix.items():
            cum += share
            row.extend([tid] * (round(cum * 100) - len(row)))
        row = (row + [row[-1]] * 100)[:100]
        trad.extend(row)
    pre_all, suf_all, pre_off, pre_len, suf_off, suf_len, joiner = [], [], [], [], [], [], []
    for group in GROUPS:
        pre, suf, join = _PLACE_PARTS[group]
        pre_off.append(len(pre_all))
        pre_all.extend(pre.split())
        pre_len.append(len(pre.split()))
        suf_off.append(len(suf_all))
        suf_all.extend(suf.split())
        suf_len.append(len(suf.split()))
        joiner.append(join)
    return Geography(
        prov_codes=prov_codes, prov_names=prov_names, prov_group=prov_group,
        reg_prov_idx=reg_prov_idx, reg_code=reg_code, reg_is_kota=reg_kota, reg_ndist=reg_ndist,
        reg_name=reg_name, reg_base=reg_base, prov_reg_start=start, prov_reg_count=count,
        pop_table=_quantize(pop_w, 4096), pov_table=_quantize(pov_w, 4096), trad_table=trad,
        place_prefix=pre_all, place_suffix=suf_all, prefix_off=pre_off, prefix_len=pre_len,
        suffix_off=suf_off, suffix_len=suf_len, joiner=joiner,
    )
