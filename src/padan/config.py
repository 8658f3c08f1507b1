"""Layered, validated configuration.

`conf/base/*.yml` is committed and enough to run anywhere; `conf/<env>/` overlays it (env from
`--env`, else `PADAN_ENV`, else `local`; `conf/local/` is git-ignored). Each file holds one or
more top-level keys; `sources/<name>.yml` files each hold one source contract. An overlay merges
mappings key by key and replaces lists and scalars whole. A top-level key defined twice within
one env is an error. `${VAR}` and `${VAR:-default}` in string values are read from the
environment (for secrets and paths).

`load()` validates everything with pydantic (unknown keys refused) plus cross-checks, and raises
one `ConfigError` listing every problem with its file and key.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from padan.errors import ConfigError
from padan.ids import SAFE_ID, SAFE_ID_TEXT, SQL_NAME
from padan.ingest.derive import problems as derive_problems
from padan.ingest.fields import CANONICAL_FIELDS

DEFAULT_ENV = "local"
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- sections


class LakeConfig(_Strict):
    root: str = "./lake"
    """Local folder or object-store URI (s3a://, abfss://) under which path-addressed tables live."""
    catalog: str | None = None
    """When set, tables are addressed by catalog name `<catalog>.<prefix><layer>.<table>`."""
    schema_prefix: str = "padan_"
    checkpoint_dir: str | None = None
    """Spark checkpoint directory (Splink needs one); default `<root>/_checkpoints`."""
    lock_wait_seconds: float = Field(default=0, ge=0)
    """How long a writing command waits for another run's lake lock (`padan.lock`) before it fails
    with exit 9; 0: fail at once (the scheduler retries later)."""

    @property
    def checkpoint_path(self) -> str:
        return self.checkpoint_dir or f"{self.root.rstrip('/')}/_checkpoints"


class SparkConfig(_Strict):
    app_name: str = "padan"
    master: str = "local[*]"
    """Used only when padan starts its own session (not under spark-submit, Databricks, pytest)."""
    driver_memory: str = "4g"
    ui_enabled: bool = False
    shuffle_partitions: int | None = Field(default=None, ge=1)
    """None: sized to the cores (2 x cores for a local master)."""
    break_lineage_method: Literal["parquet", "persist", "checkpoint", "delta_lake_table"] = "parquet"
    conf: dict[str, str] = {}
    """Runtime Spark SQL settings applied to the session."""


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    splink_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    py4j_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "ERROR"
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# Encodings the CSV line reader can split into lines: those where a newline is the single byte 0x0A.
# (Spark also decodes UTF-16/32, but only a whole-file read splits those into lines correctly.)
CSV_ENCODINGS = ("UTF-8", "ISO-8859-1", "US-ASCII")


class CsvOptions(_Strict):
    delimiter: str = ","
    encoding: str = "UTF-8"
    """The files' text encoding, one of `CSV_ENCODINGS`. A line with bytes that do not decode is a
    reject (`undecodable_text`); a header that does not decode stops the ingest (exit 3)."""
    header: bool = True
    quote: str = '"'
    escape: str = '"'

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        canonical = {e.replace("-", "").replace("_", "").lower(): e for e in CSV_ENCODINGS}
        key = encoding.replace("-", "").replace("_", "").lower()
        if key in ("latin1", "iso88591"):
            key = "iso88591"
        if key not in canonical:
            raise ValueError(f"encoding '{encoding}' is not supported for CSV; use one of {list(CSV_ENCODINGS)} "
                             f"(convert UTF-16/UTF-32 or Windows code-page extracts to UTF-8 first)")
        return canonical[key]


# Canonical fields holding a whole number whose valid range a contract declares (`valid_ranges`).
RANGE_FIELDS = ("desil",)


# Canonical fields the contract option `pseudonymise` may replace by a keyed hash.
PSEUDONYMISABLE = ("nik", "no_kk", "phone", "email", "other_id")
PSEUDONYM_KEY_MIN_BYTES = 32


class PseudonymiseOptions(_Strict):
    """Keyed pseudonymisation (`padan.standardise.pseudonymise`): the listed identifiers are replaced
    at ingest by HMAC-SHA256 under a secret key, in bronze and silver alike; what is derived from
    them (NIK region, birth date, sex, validity) is derived first. The key itself is never in the
    config: only the environment variable or the file that holds it (exactly one of the two)."""

    fields: list[Literal["nik", "no_kk", "phone", "email", "other_id"]] = list(PSEUDONYMISABLE)
    key_env: str | None = None
    """Environment variable holding the key (its UTF-8 bytes, at least 32)."""
    key_file: str | None = None
    """File holding the key (its bytes, a trailing line break dropped; at least 32)."""

    @model_validator(mode="after")
    def _one_key_source(self) -> "PseudonymiseOptions":
        if (self.key_env is None) == (self.key_file is None):
            raise ValueError("set exactly one of 'key_env' (an environment variable) and 'key_file' (a file)")
        if self.key_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.key_env):
            raise ValueError("'key_env' must be the name of an environment variable (letters, digits, _)")
        if not self.fields:
            raise ValueError("'fields' lists no field to pseudonymise")
        return self


class RegexExtractSpec(_Strict):
    column: str = Field(min_length=1)
    """Raw column (or another derivation) to search."""
    pattern: str = Field(min_length=1)
    """A Java regular expression (Spark's `regexp_extract`); no match gives null."""
    group: int = Field(default=1, ge=0)
    ignore_case: bool = False


class DeriveSpec(_Strict):
    """One derived field (`padan.ingest.derive`): exactly one of `concat` (with `sep`), `coalesce`,
    `regex_extract`. Declarative on purpose: a contract is operator input and padan builds no SQL
    text from it."""

    concat: list[str] | None = Field(default=None, min_length=1)
    """Join these columns' non-blank values with `sep` (default one space)."""
    sep: str | None = None
    coalesce: list[str] | None = Field(default=None, min_length=1)
    """The first non-blank value of these columns."""
    regex_extract: RegexExtractSpec | None = None

    @model_validator(mode="after")
    def _one_operation(self) -> "DeriveSpec":
        ops = [k for k in ("concat", "coalesce", "regex_extract") if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError(f"a derived field takes exactly one of 'concat', 'coalesce', 'regex_extract' "
                             f"(got {ops or 'none'})")
        if self.sep is not None and self.concat is None:
            raise ValueError("'sep' goes with 'concat' only")
        return self


class SourceContract(_Strict):
    """How to read one register and map it onto padan's canonical fields."""

    description: str = ""
    format: Literal["csv", "parquet", "delta", "json"]
    path: str
    csv: CsvOptions = CsvOptions()
    record_key: str | None = None
    """Raw column holding the register's own record id; None derives a stable key from the row."""
    columns: dict[str, str]
    """canonical field -> raw column name. Every mapped column must exist in every input file; a
    field set to null is not mapped (how an overlay drops a mapping it inherits)."""
    required: list[str] = []
    """Canonical fields whose raw columns must exist in every file."""
    date_formats: dict[str, list[str]] = {}
    """canonical date field -> Spark datetime patterns tried in order."""
    value_maps: dict[str, dict[str, str]] = {}
    """canonical field -> {raw value (upper-cased, trimmed): canonical value}."""
    valid_ranges: dict[str, tuple[int, int]] = {"desil": (1, 10)}
    """whole-number field -> [lowest, highest] valid value (inclusive). A value outside it, or not a
    whole number, is invalid: a reject (`invalid_<field>`) when the field is `required`, else a flag."""
    pseudonymise: PseudonymiseOptions | None = None
    """Replace identifiers by a keyed hash at ingest (off when absent); see `PseudonymiseOptions`."""
    derive: dict[str, DeriveSpec] = {}
    """canonical field -> how to compute it from raw columns (`padan.ingest.derive`); a field is
    either mapped in `columns` or derived, not both."""

    @field_validator("valid_ranges")
    @classmethod
    def _range_fields(cls, ranges: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        unknown = sorted(set(ranges) - set(RANGE_FIELDS))
        if unknown:
            raise ValueError(f"valid_ranges for field(s) {unknown}; only {list(RANGE_FIELDS)} take a range")
        backwards = sorted(f for f, (lo, hi) in ranges.items() if lo > hi)
        if backwards:
            raise ValueError(f"valid_ranges for {backwards}: the lowest value is above the highest")
        return ranges

    @model_validator(mode="before")
    @classmethod
    def _drop_null_mappings(cls, data: Any) -> Any:
        """`columns: {phone: null}` (in an overlay, say) un-maps a field: it is dropped from `columns`,
        and so are its `date_formats` and `value_maps` entries, whatever layer set them (unless the
        field is derived instead). `derive: {name: null}` drops an inherited derivation."""
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("derive"), dict) and any(v is None for v in data["derive"].values()):
            data = {**data, "derive": {f: v for f, v in data["derive"].items() if v is not None}}
        if not isinstance(data.get("columns"), dict):
            return data
        dropped = {f for f, raw in data["columns"].items() if raw is None}
        if not dropped:
            return data
        out = dict(data)
        out["columns"] = {f: raw for f, raw in data["columns"].items() if raw is not None}
        if isinstance(data.get("derive"), dict):   # un-mapped to be derived: its formats still apply
            dropped -= set(data["derive"])
        for key in ("date_formats", "value_maps"):
            if isinstance(data.get(key), dict):
                out[key] = {f: v for f, v in data[key].items() if f not in dropped}
        return out

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(CANONICAL_FIELDS)}")
        return columns

    @model_validator(mode="after")
    def _required_are_mapped(self) -> "SourceContract":
        missing = [f for f in self.required if f not in self.columns and f not in self.derive]
        if missing:
            raise ValueError(f"required field(s) {missing} have no entry in 'columns' or 'derive'")
        bad_dates = [f for f in self.date_formats if f not in self.columns and f not in self.derive]
        if bad_dates:
            raise ValueError(f"date_formats for unmapped field(s) {bad_dates}")

        derive_errors = derive_problems(self)     # all of them in one message (with the key of the source)
        if derive_errors:
            raise ValueError("; ".join(derive_errors))
        return self


class StandardiseConfig(_Strict):
    name_titles: list[str]
    """Titles and degrees removed from either end of a name (matched after punctuation is dropped)."""
    muhammad_variants: list[str]
    placeholder_dates: list[str] = ["01-01", "07-01", "12-31"]
    """MM-DD of birth dates used as placeholders; day 15 is flagged too when `day15_placeholder`."""
    day15_placeholder: bool = True
    placeholder_niks: list[str] = []
    """Regular expressions (full match) of NIK placeholders, applied after non-digits are stripped."""
    min_birth_year: int = 1900
    identifying_regions: list[Literal["desa", "kecamatan", "kabupaten"]] = ["kabupaten"]
    """A row with a name and none of a valid NIK, a birth date, a phone, an e-mail, another identifier
    (`other_id`) or one of these
    region fields is rejected (`no_identifying_field`). The no-NIK profile adds desa and kecamatan
    (a register whose region is a suburb and a postcode has no kabupaten)."""


class LevelConfig(_Strict):
    """One comparison level: a SQL condition on `<col>_l` / `<col>_r`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    label: str | None = None
    sql: str | None = None
    is_null: bool = Field(default=False, alias="null_level")
    is_else: bool = Field(default=False, alias="else")
    tf: str | None = None
    """Column for term-frequency adjustment of this level (rare values weigh more)."""
    tf_weight: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _sql_or_else(self) -> "LevelConfig":
        if self.is_else and self.sql:
            raise ValueError("an 'else' level takes no 'sql'")
        if not self.is_else and not self.sql:
            raise ValueError("a level needs 'sql' (or 'else: true')")
        return self


class ComparisonConfig(_Strict):
    name: str
    description: str = ""
    levels: list[LevelConfig]

    @model_validator(mode="after")
    def _shape(self) -> "ComparisonConfig":
        if len(self.levels) < 2:
            raise ValueError("a comparison needs at least two levels")
        if not self.levels[-1].is_else:
            raise ValueError("the last level must be 'else: true'")
        return self


class HouseholdUConfig(_Strict):
    """u of comparisons conditioned on a shared household key, from the pairs that share it.

    A comparison whose null level holds for every pair NOT sharing the key (e.g. `no_kk_l IS NULL
    OR no_kk_r IS NULL OR no_kk_l <> no_kk_r OR ...`) compares the two records of one household
    only: its m (the labels outside its null level) is then P(level | match, same household), and
    its u must be P(level | non-match, same household). Random pairs almost never share a
    household (about 20 of 1M random pairs share a family card), so their u is noise: this takes
    it from the pairs that share the key and are not one person instead."""
    key: str
    """Blocking rule (SQL on l./r.) giving every pair that shares the household key."""
    not_same_person: str
    """Condition (SQL on l./r.) that keeps only pairs of two people among the key's pairs."""
    comparisons: list[str]
    """Comparisons (names) whose u is taken from those pairs; each must be null outside the key."""
    date_comparisons: list[str] = []
    """Those of `comparisons` that compare birth dates: with date_sex_m_from_name_labels their m also
    comes from the name-anchored labels (whose dates may be damaged), as the birth date's does."""


class TrainingConfig(_Strict):
    prior_rules: list[str]
    """Deterministic rules (SQL on l./r.) used to estimate the prior probability two records match."""
    prior_recall: float = Field(default=0.7, gt=0, le=1)
    u_max_pairs: int = Field(default=1_000_000, ge=1000)
    u_seed: int = 42
    u_chunks: int = Field(default=1, ge=1)
    """Splink's chunks for u sampling; more chunks can stop early but each costs a pass (10 chunks
    took 6x longer than 1 at 200k pairs on 2 cores)."""
    m_method: Literal["nik_anchored", "em"] = "nik_anchored"
    engine: Literal["padan", "splink"] = "padan"
    """What computes the prior, u and m (NIK-anchored or EM): padan's counts (`padan.model.counts`:
    one Spark job per estimate or EM session, pattern counts on the driver) or Splink's training
    calls (a pass per comparison). Same estimators; u comes from a different random sample."""
    max_label_pairs: int = Field(default=500_000, ge=100)
    date_sex_m_from_name_labels: bool = False
    """nik_anchored only: take the birth date's and sex's m from pairs sharing a valid NIK and the
    cleaned name (where dates may disagree) instead of the NIK-anchored labels (where they always
    agree). More faithful m, but measured worse at 1M `typical` (pairwise F1 at 0.9: 0.965 vs
    0.979; see docs/BENCHMARKS.md), so off by default."""
    household_u: HouseholdUConfig | None = None
    """padan's engine only: u of the household-conditioned comparisons from pairs sharing a
    household key (see HouseholdUConfig)."""
    em_blocking_rules: list[str]
    em_max_iterations: int = Field(default=10, ge=1)
    em_sample_rows: int | None = Field(default=None, ge=100)
    """Record sample (per source) for EM; None uses every record."""


class ModelConfig(_Strict):
    link_type: Literal["link_and_dedupe", "link_only", "dedupe_only"] = "link_and_dedupe"
    comparisons: list[ComparisonConfig]
    blocking_rules: list[str]
    """SQL conditions on l./r. columns that generate prediction pairs (OR-ed, de-duplicated)."""
    training: TrainingConfig
    max_pairs_per_rule: int = Field(default=50_000_000, ge=1)
    block_size_cap: int | None = Field(default=None, ge=2)
    """padan's engine: a prediction rule's block (the records sharing the values of its `l.x = r.x`
    keys) holding more than this many records gives no pairs under that rule; its pairs are left to
    the other rules. So each record gets at most block_size_cap - 1 pairs per rule whatever the
    register's size (common names and birth dates make blocks that grow with it). Saved with the
    model version (its JSON's `padan` part, which Splink never reads); None: no cap."""


class LinkConfig(_Strict):
    model_version: str = "latest"
    """Pinned model version used by prediction; 'latest' only for demos and first runs."""
    threshold_match_probability: float = Field(default=0.9, gt=0, lt=1)
    extra_thresholds: list[float] = []
    min_pair_probability: float = Field(default=0.01, ge=0, lt=1)
    """Pairs below this probability are not written to gold.pairs (they explain nothing useful)."""
    engine: Literal["padan", "splink"] = "padan"
    """What scores candidate pairs: padan's engine (`padan.link.engine`, one Spark plan) or Splink's
    own predict on Spark. Both give the same pairs and weights from the same model."""

    @field_validator("extra_thresholds")
    @classmethod
    def _in_range(cls, values: list[float]) -> list[float]:
        bad = [v for v in values if not 0 < v < 1]
        if bad:
            raise ValueError(f"thresholds must be between 0 and 1, got {bad}")
        return values


class MartsConfig(_Strict):
    targeting_desil: list[int] = [1]
    working_age: tuple[int, int] = (18, 64)
    reference_date: str | None = None
    """Date ages are computed at (yyyy-MM-dd); None uses the run date."""
    suppress_below: int = Field(default=10, ge=0)
    """Small-cell suppression: person counts below this in gold.overlap_by_region and the HTML report
    are published as suppressed ("<10"); 0 or 1 turns it off."""


class DemoConfig(_Strict):
    p3ke_rows: int = Field(default=4000, ge=10)
    prakerja_rows: int = Field(default=3000, ge=10)
    seed: int = 20241
    profile: str = "typical"
    out: str = "./data/demo"
    u_max_pairs: int = Field(default=200_000, ge=1000)
    """u sampling budget for the demo (small data does not need the production budget)."""


class Config(_Strict):
    env: str = DEFAULT_ENV
    conf_dir: str = "conf"
    lake: LakeConfig = LakeConfig()
    spark: SparkConfig = SparkConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: dict[str, SourceContract]
    standardise: StandardiseConfig
    model: ModelConfig
    link: LinkConfig = LinkConfig()
    marts: MartsConfig = MartsConfig()
    demo: DemoConfig = DemoConfig()

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Config":
        """A new validated config with `overrides` merged in (same rules as an env overlay)."""
        data = _deep_merge(self.model_dump(mode="python"), dict(overrides))
        return _validate(data, origins={k: "<overrides>" for k in overrides})


# ---------------------------------------------------------------- loading


def _find_conf_dir() -> Path:
    env_dir = os.environ.get("PADAN_CONF_DIR")
    if env_dir:
        return Path(env_dir)
    here = Path.cwd()
    for candidate in [here, *here.parents]:
        if (candidate / "conf" / "base").is_dir():
            return candidate / "conf"
    packaged = Path(__file__).resolve().parents[2] / "conf"
    return packaged


def _substitute_env(value: Any, path: tuple[str, ...] = (), missing: list[tuple[str, str]] | None = None) -> Any:
    """`${NAME}` / `${NAME:-default}` replaced from the environment; each unset variable without a
    default is added to `missing` as (variable, dotted key) instead of stopping at the first."""
    missing = [] if missing is None else missing
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            got = os.environ.get(name)
            if got is None:
                if default is None:
                    missing.append((name, ".".join(path)))
                    return m.group(0)
                return default
            return got

        return _ENV_VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute_env(v, (*path, str(k)), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, (*path, str(i)), missing) for i, v in enumerate(value)]
    return value


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_env_dir(env_dir: Path, problems: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read one env folder: top-level keys of *.yml plus sources/*.yml. Returns (data, key->file)."""
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if not env_dir.is_dir():
        return data, origins
    for path in sorted(env_dir.glob("*.yml")) + sorted(env_dir.glob("*.yaml")):
        content = _load_yaml(path, problems)
        if content is None:
            continue
        if not isinstance(content, dict):
            problems.append(f"{path}: top level must be a mapping of section names")
            continue
        for key, value in content.items():
            if key in origins:
                problems.append(f"{path}: key '{key}' is already set in {origins[key]} (same env)")
                continue
            data[key] = value
            origins[key] = str(path)
    sources_dir = env_dir / "sources"
    if sources_dir.is_dir():
        sources = data.setdefault("sources", {})
        for path in sorted(sources_dir.glob("*.yml")) + sorted(sources_dir.glob("*.yaml")):
            content = _load_yaml(path, problems)
            if content is None:
                continue
            if not isinstance(content, dict):
                problems.append(f"{path}: a source contract must be a mapping")
                continue
            name = path.stem
            if name in sources:
                problems.append(f"{path}: source '{name}' is already defined in this env")
                continue
            sources[name] = content
            origins[f"sources.{name}"] = str(path)
    return data, origins


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML, except that a key repeated in one mapping is an error (YAML's last-wins would
    silently drop the first value)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"key '{key}' is repeated (first on line "
                    f"{seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _load_yaml(path: Path, problems: list[str]) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problems.append(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})")
        return None


def _validate(data: dict[str, Any], origins: Mapping[str, str], problems: list[str] | None = None) -> Config:
    problems = list(problems or [])
    missing: list[tuple[str, str]] = []
    data = _substitute_env(data, (), missing)
    for name, key in missing:
        parts = key.split(".")
        origin = origins.get(".".join(parts[:2])) or origins.get(parts[0], "<defaults>")
        problems.append(f"{origin}: key '{key}' references environment variable {name}, which is not set")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = ".".join(loc)
            origin = origins.get(".".join(loc[:2])) or origins.get(loc[0] if loc else "", "<defaults>")
            if err["type"] == "extra_forbidden":
                problems.append(f"{origin}: unknown key '{key}'")
            else:
                got = err.get("input")
                shown = f" (got {type(got).__name__})" if got is not None and err["type"] != "missing" else ""
                problems.append(f"{origin}: key '{key}': {err['msg']}{shown}")
        raise ConfigError(problems) from None
    problems.extend(_cross_checks(cfg, origins))
    if problems:
        raise ConfigError(problems)
    return cfg


def _cross_checks(cfg: Config, origins: Mapping[str, str]) -> list[str]:
    problems = []
    link_file = origins.get("link", "<defaults>")
    if cfg.link.threshold_match_probability <= cfg.link.min_pair_probability:
        problems.append(
            f"{link_file}: key 'link.threshold_match_probability' must be above 'link.min_pair_probability'"
        )
    if not cfg.sources:
        problems.append("no source contracts found (conf/<env>/sources/*.yml)")
    for name in cfg.sources:       # source names become table names and slices of shared tables
        if not SAFE_ID.match(name) or not name[0].isalpha():
            problems.append(f"{origins.get(f'sources.{name}', '<defaults>')}: source name {name!r} must start with a "
                            f"letter and be {SAFE_ID_TEXT}")
    for name, contract in cfg.sources.items():
        if contract.pseudonymise is not None:
            problem = pseudonym_key_problem(name, contract.pseudonymise)
            if problem:
                problems.append(f"{origins.get(f'sources.{name}', '<defaults>')}: {problem}")
    for key, value in (("catalog", cfg.lake.catalog), ("schema_prefix", cfg.lake.schema_prefix)):
        if value and not SQL_NAME.match(value):
            problems.append(f"{origins.get('lake', '<defaults>')}: key 'lake.{key}' must be letters, digits and _")
    names = [c.name for c in cfg.model.comparisons]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"{origins.get('model', '<defaults>')}: comparison names repeated: {dupes}")
    hu = cfg.model.training.household_u
    if hu is not None:
        unknown = sorted((set(hu.comparisons) | set(hu.date_comparisons)) - set(names))
        if unknown:
            problems.append(f"{origins.get('model', '<defaults>')}: training.household_u names comparisons "
                            f"the model does not have: {unknown}")
        if cfg.model.training.engine != "padan":
            problems.append(f"{origins.get('model', '<defaults>')}: training.household_u needs engine: padan")
    return problems


def read_pseudonym_key(opts: PseudonymiseOptions) -> bytes | None:
    """The key's bytes (None when its variable or file is absent). Never logged, never in a message."""
    if opts.key_env is not None:
        value = os.environ.get(opts.key_env)
        return None if value is None else value.encode("utf-8")
    try:
        data = Path(opts.key_file).read_bytes()   # type: ignore[arg-type]
    except OSError:
        return None
    return data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data


def pseudonym_key_problem(source: str, opts: PseudonymiseOptions) -> str | None:
    """What is wrong with a source's pseudonymisation key, in words that name the source, the option
    and where the key should be, never the key; None when it is usable."""
    where = (f"environment variable {opts.key_env} (key_env)" if opts.key_env is not None
             else f"key file '{opts.key_file}' (key_file)")
    key = read_pseudonym_key(opts)
    if key is None:
        return (f"key 'sources.{source}.pseudonymise': the pseudonymisation key is missing: "
                f"{where} is {'not set' if opts.key_env is not None else 'not readable'}")
    if len(key) < PSEUDONYM_KEY_MIN_BYTES:
        return (f"key 'sources.{source}.pseudonymise': the pseudonymisation key in {where} is shorter than "
                f"{PSEUDONYM_KEY_MIN_BYTES} bytes; use a random key of at least {PSEUDONYM_KEY_MIN_BYTES} bytes")
    return None


def packaged_base() -> Path:
    """The `conf/base` padan ships with (next to the package in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "conf" / "base"


def _overlay(data: dict[str, Any], origins: dict[str, str], env_dir: Path,
             problems: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    overlay, overlay_origins = _read_env_dir(env_dir, problems)
    return _deep_merge(data, overlay), {**origins, **overlay_origins}


def load(env: str | None = None, conf_dir: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Load `conf/base` overlaid by `conf/<env>`, validate, and return a frozen `Config`.

    A `conf_dir` without a `base/` folder is an overlay of padan's own `conf/base`
    (`packaged_base()`): its `*.yml` and `sources/` overlay that base, and its `<env>/` folder, if
    there is one, overlays the result."""
    env = env or os.environ.get("PADAN_ENV") or DEFAULT_ENV
    root = Path(conf_dir) if conf_dir else _find_conf_dir()
    problems: list[str] = []
    if not root.is_dir():
        raise ConfigError([f"configuration folder {root} does not exist"])
    overlay_only = not (root / "base").is_dir()
    base = packaged_base() if overlay_only else root / "base"
    if not base.is_dir():
        raise ConfigError([f"configuration folder {root} has no base/ and padan's own {base} does not exist"])
    data, origins = _read_env_dir(base, problems)
    if overlay_only:
        data, origins = _overlay(data, origins, root, problems)
    if env != "base":
        env_dir = root / env
        if not env_dir.is_dir() and env != DEFAULT_ENV:
            problems.append(f"env '{env}' has no folder {env_dir}")
        data, origins = _overlay(data, origins, env_dir, problems)
    if overrides:
        data = _deep_merge(data, dict(overrides))
        origins = {**origins, **{k: "<overrides>" for k in overrides}}
    data["env"] = env
    data["conf_dir"] = str(root)
    return _validate(data, origins, problems)
