"""The claims ledger (book/claims/chN.yml) agrees with the code, and its checker can fail.

``bncourse.ledger.problems`` cross-checks both directions: every claim's experiment and
test exist and the test carries ``@pytest.mark.claim("<id>")``; every claim marker names
a ledger claim; every experiment test carries a claim or a ``machinery`` marker.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from bncourse import ledger

CLAIM = {
    "id": "ch9-thing",
    "claim": "BN does a thing.",
    "status": "reproduced",
    "experiment": "bncourse.experiments.ch9_x.run_thing",
    "test": "tests/test_experiments_ch9.py::test_thing",
    "measured": "0.5 [0.4, 0.6]",
    "seeds": "0-9",
}


def test_the_ledger_agrees_with_the_code():
    """No problem found in the repository's ledger (the message lists each one)."""
    found = ledger.problems(ROOT)
    assert not found, "claims ledger problems:\n" + "\n".join(found)


def test_every_written_chapter_has_a_ledger_with_claims():
    """Chapter 3 is written, so its ledger exists and lists claims with each status used."""
    ch3 = ledger.load_chapter(ROOT / "book" / "claims" / "ch3.yml")
    assert ch3.doc == "book/03_mechanics"
    assert len(ch3.claims) >= 10


def _tree(tmp_path: Path, claims: list[dict], tests: str, doc: str = "planned") -> Path:
    """A minimal course tree: one ledger file, one experiment module, one test file."""
    import yaml

    (tmp_path / "book" / "claims").mkdir(parents=True)
    (tmp_path / "book" / "references.bib").write_text("@misc{paper2020,\n  year={2020}\n}\n")
    data = {"chapter": 9, "title": "Nine", "doc": doc, "claims": claims}
    (tmp_path / "book" / "claims" / "ch9.yml").write_text(yaml.safe_dump(data))
    (tmp_path / "bncourse" / "experiments").mkdir(parents=True)
    (tmp_path / "bncourse" / "experiments" / "ch9_x.py").write_text("def run_thing():\n    pass\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_experiments_ch9.py").write_text(textwrap.dedent(tests))
    return tmp_path


MARKED = """
    import pytest

    @pytest.mark.claim("ch9-thing")
    def test_thing():
        assert True
"""


def test_a_consistent_tree_has_no_problems(tmp_path):
    assert ledger.problems(_tree(tmp_path, [CLAIM], MARKED)) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"experiment": "bncourse.experiments.ch9_x.run_other"}, "defines no top-level"),
        ({"experiment": "bncourse.experiments.ch9_gone.run_thing"}, "no module file"),
        ({"test": "tests/test_experiments_ch9.py::test_gone"}, "does not exist"),
        ({"id": "ch9-other"}, "lacks @pytest.mark.claim"),
        ({"source": "nobody2021"}, "not a key of book/references.bib"),
    ],
)
def test_a_claim_pointing_nowhere_is_a_problem(tmp_path, change, expected):
    found = ledger.problems(_tree(tmp_path, [{**CLAIM, **change}], MARKED))
    assert any(expected in p for p in found), found


def test_a_test_asserting_an_unlisted_claim_is_a_problem(tmp_path):
    tests = (
        MARKED
        + """
    @pytest.mark.claim("ch9-unlisted")
    def test_more():
        assert True
    """
    )
    found = ledger.problems(_tree(tmp_path, [CLAIM], tests))
    assert any("ch9-unlisted" in p and "no book/claims" in p for p in found), found


def test_an_unmarked_experiment_test_is_a_problem_and_machinery_is_not(tmp_path):
    tests = (
        MARKED
        + """
    def test_unmarked():
        assert True

    @pytest.mark.machinery
    def test_plot():
        assert True
    """
    )
    found = ledger.problems(_tree(tmp_path, [CLAIM], tests))
    assert len(found) == 1 and "test_unmarked" in found[0], found


def test_module_level_pytestmark_applies_to_every_test(tmp_path):
    tests = """
    import pytest
    pytestmark = [pytest.mark.claim("ch9-thing")]

    def test_thing():
        assert True
    """
    assert ledger.problems(_tree(tmp_path, [CLAIM], tests)) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"status": "maybe"}, "is not one of"),
        ({"measured": None}, "needs 'measured'"),
        ({"seeds": None}, "needs 'seeds'"),
        ({"test": None}, "needs 'test'"),
        ({"id": "ch3-wrong-chapter"}, "id must look like 'ch9-"),
        ({"claim": "two\nlines"}, "one line"),
        ({"colour": "blue"}, "unknown keys"),
        ({"test": "test_thing"}, "is not 'tests/file.py::test_name'"),
        ({"status": "cited only", "reason": "ImageNet scale"}, "needs a 'source'"),
        ({"status": "cited only", "source": "paper2020"}, "needs a 'reason'"),
    ],
)
def test_format_errors_name_file_claim_and_problem(tmp_path, change, expected):
    claim = {k: v for k, v in {**CLAIM, **change}.items() if v is not None}
    found = ledger.problems(_tree(tmp_path, [claim], MARKED))
    # the format error comes first; the test's marker then names a claim that failed to load
    assert found and expected in found[0] and "ch9.yml" in found[0], found


def test_cited_only_needs_no_test(tmp_path):
    claim = {
        "id": "ch9-cited",
        "claim": "BN helps ImageNet.",
        "status": "cited only",
        "source": "paper2020",
        "reason": "ImageNet scale, beyond a CPU",
    }
    assert ledger.problems(_tree(tmp_path, [CLAIM, claim], MARKED)) == []


def test_label_must_exist_in_a_written_chapter(tmp_path):
    root = _tree(tmp_path, [{**CLAIM, "label": "sec-thing"}], MARKED, doc="book/09_nine")
    (root / "book" / "09_nine.md").write_text("(sec-other)=\n# Nine\n")
    found = ledger.problems(root)
    assert any("label 'sec-thing' is not defined" in p for p in found), found


def test_render_lists_every_claim_with_status_numbers_and_checks():
    """The page body names each claim once, with its status, numbers and test."""
    claims = ROOT / "book" / "claims"
    chapters = [ledger.load_chapter(p) for p in (claims / "ch3.yml", claims / "ch6-results.yml")]
    page = ledger.render(chapters)
    for chapter in chapters:
        for c in chapter.claims:
            assert page.count(c.claim.replace("|", "\\|")) == 1, c.id
            if c.status != "cited only":
                assert c.tests[0].split("::")[-1] in page
    assert "| Chapter | reproduced here |" in page


def test_cli_reports_problems_with_exit_status(tmp_path, capsys):
    root = _tree(tmp_path, [{**CLAIM, "test": "tests/test_experiments_ch9.py::test_gone"}], MARKED)
    assert ledger.main(["--root", str(root)]) == 1
    assert "does not exist" in capsys.readouterr().out
    shutil.rmtree(root / "tests")
    (root / "tests").mkdir()


def test_a_chapter_may_have_one_ledger_file_per_section_page(tmp_path):
    """chN-part.yml files belong to chapter N and sort after chN.yml; other names are refused."""
    text = "chapter: 9\ntitle: T\ndoc: planned\nclaims: []\n"
    for name in ("ch9.yml", "ch9-smoothness.yml", "ch10.yml"):
        (tmp_path / name).write_text(text.replace("9", name[2:].split("-")[0].split(".")[0]))
    assert ledger.load_chapter(tmp_path / "ch9-smoothness.yml").number == 9
    (tmp_path / "book" / "claims").mkdir(parents=True)
    for p in list(tmp_path.glob("ch*.yml")):
        p.rename(tmp_path / "book" / "claims" / p.name)
    assert [p.name for p in ledger.ledger_files(tmp_path)] == [
        "ch9.yml", "ch9-smoothness.yml", "ch10.yml",
    ]  # fmt: skip
    bad = tmp_path / "ch9_smoothness.yml"
    bad.write_text(text)
    with pytest.raises(ledger.LedgerError, match="chN-part.yml"):
        ledger.load_chapter(bad)


_ICONS_OF = {"reproduced": "✓", "not reproduced": "✗", "cited only": "◇"}


def test_render_table_has_one_row_per_claim_and_links_the_ledger():
    """Chapter 6's closing table: every claim once, its status, where it is made."""
    chapters = ledger.load(ROOT)
    table = ledger.render_table(chapters)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    claims = [c for ch in chapters for c in ch.claims]
    ch_doc = {c.id: ch.doc for ch in chapters for c in ch.claims}
    assert len(rows) == len(claims) + 1  # + the header
    for c in claims:
        row = f"| {_ICONS_OF[c.status]} | {c.claim.replace('|', chr(92) + '|')}"
        assert table.count(row) == 1, c.id
        if c.label and ch_doc[c.id]:
            assert f"{{ref}}`{c.label}`" in table, c.id
    assert "{ref}`claims-ledger`" in table
    assert f"In all: {sum(c.status == 'reproduced' for c in claims)} reproduced here" in table
