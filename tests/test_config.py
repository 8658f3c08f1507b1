from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from padan import config
from padan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def conf_copy(tmp_path):
    dst = tmp_path / "conf"
    shutil.copytree(REPO / "conf" / "base", dst / "base")
    return dst


def test_base_config_loads_and_is_frozen():
    cfg = config.load(env="base", conf_dir=REPO / "conf")
    assert set(cfg.sources) >= {"p3ke", "prakerja"}
    assert cfg.model.comparisons[0].levels[-1].is_else
    with pytest.raises(Exception):
        cfg.link.threshold_match_probability = 0.5  # type: ignore[misc]


def test_misspelled_key_and_wrong_type_are_reported_together(conf_copy):
    (conf_copy / "dev").mkdir()
    (conf_copy / "dev" / "link.yml").write_text(
        "link:\n  treshold_match_probability: 0.8\n  min_pair_probability: lots\n")
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    msg = str(err.value)
    assert "treshold_match_probability" in msg and "unknown key" in msg
    assert "min_pair_probability" in msg
    assert str(conf_copy / "dev" / "link.yml") in msg
    assert len(err.value.problems) == 2


def test_env_overlay_merges_and_env_var_substitution(conf_copy, monkeypatch):
    (conf_copy / "cluster").mkdir()
    (conf_copy / "cluster" / "lake.yml").write_text("lake:\n  root: ${TEST_LAKE_ROOT}\n")
    monkeypatch.setenv("TEST_LAKE_ROOT", "s3a://bucket/padan")
    cfg = config.load(env="cluster", conf_dir=conf_copy)
    assert cfg.lake.root == "s3a://bucket/padan"
    assert cfg.lake.schema_prefix == "padan_"        # merged, not replaced
    assert cfg.env == "cluster"


def test_key_defined_twice_in_one_env_is_an_error(conf_copy):
    (conf_copy / "base" / "extra.yml").write_text("link:\n  threshold_match_probability: 0.8\n")
    with pytest.raises(ConfigError, match="already set"):
        config.load(env="base", conf_dir=conf_copy)


def test_missing_env_var_and_unknown_env_are_reported(conf_copy):
    (conf_copy / "base" / "lake.yml").write_text("lake:\n  root: ${PADAN_SURELY_UNSET_VAR}\n")
    with pytest.raises(ConfigError) as err:
        config.load(env="nosuchenv", conf_dir=conf_copy)
    msg = str(err.value)
    assert "PADAN_SURELY_UNSET_VAR" in msg and "nosuchenv" in msg


def test_source_contract_with_unknown_field_is_refused(conf_copy):
    p = conf_copy / "base" / "sources" / "p3ke.yml"
    p.write_text(p.read_text().replace("  nik: nik\n", "  nikk: nik\n"))
    with pytest.raises(ConfigError, match="nikk"):
        config.load(env="base", conf_dir=conf_copy)


def test_threshold_outside_unit_interval_is_refused(conf_copy):
    (conf_copy / "base" / "link.yml").write_text("link:\n  threshold_match_probability: 1.5\n")
    with pytest.raises(ConfigError, match="threshold_match_probability"):
        config.load(env="base", conf_dir=conf_copy)


def test_a_key_repeated_in_one_file_is_an_error(conf_copy):
    (conf_copy / "dev").mkdir()
    (conf_copy / "dev" / "link.yml").write_text(
        "link:\n  threshold_match_probability: 0.8\n  threshold_match_probability: 0.95\n")
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    msg = str(err.value)
    assert str(conf_copy / "dev" / "link.yml") in msg and "line 3" in msg
    assert "threshold_match_probability' is repeated (first on line 2)" in msg


def test_unset_environment_variables_are_named_with_file_and_key(conf_copy, monkeypatch):
    monkeypatch.delenv("PADAN_TEST_UNSET_A", raising=False)
    monkeypatch.delenv("PADAN_TEST_UNSET_B", raising=False)
    (conf_copy / "dev").mkdir()
    (conf_copy / "dev" / "lake.yml").write_text("lake:\n  root: ${PADAN_TEST_UNSET_A}/lake\n"
                                                "  checkpoint_dir: ${PADAN_TEST_UNSET_B}\n")
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    problems = err.value.problems
    assert any(str(conf_copy / "dev" / "lake.yml") in p and "lake.root" in p and "PADAN_TEST_UNSET_A" in p
               for p in problems)
    assert any("lake.checkpoint_dir" in p and "PADAN_TEST_UNSET_B" in p for p in problems)


def test_a_conf_dir_with_only_an_overlay_uses_the_packaged_base(tmp_path):
    """No base/ in the folder: padan's own conf/base is the base, the folder's files overlay it, and
    its <env>/ folder overlays that."""
    overlay = tmp_path / "myconf"
    (overlay / "sources").mkdir(parents=True)
    (overlay / "link.yml").write_text("link:\n  threshold_match_probability: 0.95\n")
    (overlay / "sources" / "prakerja.yml").write_text("path: /data/prakerja\n")          # one key of a base contract
    (overlay / "dev").mkdir()
    (overlay / "dev" / "lake.yml").write_text("lake:\n  root: /lake/dev\n")
    base = config.load(env="base", conf_dir=REPO / "conf")
    cfg = config.load(env="dev", conf_dir=overlay)
    assert config.packaged_base() == REPO / "conf" / "base"
    assert set(cfg.sources) == set(base.sources)
    assert cfg.sources["prakerja"].path == "/data/prakerja"
    assert cfg.sources["prakerja"].columns == base.sources["prakerja"].columns       # merged, not replaced
    assert cfg.link.threshold_match_probability == 0.95 and cfg.lake.root == "/lake/dev"
    assert cfg.model == base.model
    assert config.load(env="local", conf_dir=overlay).lake.root == base.lake.root   # no local/: fine
    with pytest.raises(ConfigError, match="nosuchenv"):
        config.load(env="nosuchenv", conf_dir=overlay)
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(env="base", conf_dir=tmp_path / "nothing-here")


def test_an_overlay_drops_an_inherited_column_mapping_with_null(conf_copy):
    (conf_copy / "dev" / "sources").mkdir(parents=True)
    (conf_copy / "dev" / "sources" / "prakerja.yml").write_text(
        "columns:\n  phone: null\n  registered_at: null\n")
    base = config.load(env="base", conf_dir=conf_copy).sources["prakerja"]
    got = config.load(env="dev", conf_dir=conf_copy).sources["prakerja"]
    assert "phone" in base.columns and "registered_at" in base.date_formats
    assert set(got.columns) == set(base.columns) - {"phone", "registered_at"}
    assert "registered_at" not in got.date_formats and got.date_formats["birth_date"] == base.date_formats["birth_date"]


def test_a_dropped_mapping_does_not_hide_the_other_errors(conf_copy):
    """Dropping a required field's mapping is reported with the file's other problems, not as a type
    error that stops validation before the contract's own checks."""
    (conf_copy / "dev" / "sources").mkdir(parents=True)
    (conf_copy / "dev" / "sources" / "prakerja.yml").write_text(
        "columns:\n  phone: null\n  nik: null\nformat: xlsx\n")
    (conf_copy / "dev" / "link.yml").write_text("link:\n  threshold_match_probability: 1.5\n")
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    problems = err.value.problems
    assert any("sources.prakerja.format" in p for p in problems)
    assert any("threshold_match_probability" in p for p in problems)
    assert not any("phone" in p for p in problems)
    (conf_copy / "dev" / "sources" / "prakerja.yml").write_text("columns:\n  nik: null\n")
    (conf_copy / "dev" / "link.yml").unlink()
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    assert len(err.value.problems) == 1 and "['nik']" in err.value.problems[0]
    assert str(conf_copy / "dev" / "sources" / "prakerja.yml") in err.value.problems[0]
