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
