"""The README says what the code does: every lake table and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from padan.cli import COMMANDS, build_parser
from padan.tables import ALL_FIXED, PERSONS, column_names

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_every_table_is_listed_in_the_readme():
    missing = [t.name for t in ALL_FIXED if f"`{t.name}`" not in README]
    assert not missing


def test_every_silver_column_is_documented():
    missing = [c for c in column_names(PERSONS.ddl) if f"`{c}`" not in README]
    assert not missing


def test_every_command_has_help_and_is_in_the_readme():
    parser = build_parser()
    for name in COMMANDS:
        assert f"padan {name}" in README, name
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


def test_every_module_is_in_the_readme_layout():
    """A newcomer finds every module of the package in the README's layout, under its package."""
    layout = README.split("## Layout", 1)[1]
    src = REPO / "src" / "padan"
    for path in sorted(src.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        rel = path.relative_to(src)
        assert path.stem in layout, str(rel)
        if len(rel.parts) > 1:
            assert f"{rel.parts[0]}/" in layout, str(rel)
