"""The claim docstring's labelled paragraphs (claim.parse_docstring): found however they are written, never
dropped."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.claim import (DOC_LABELS, OPTIONAL_DOC_LABELS, SOURCE_STATUSES, ClaimSpecError, parse_docstring,
                           source_status)

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {"statement": "Wider is better.", "source": "A et al. 2024, arXiv:1.", "departures": "fewer steps.",
            "pilot": "width 64 only: 300.", "gates": "the default.", "source status": "",
            "reading": ""}


@pytest.mark.parametrize("doc", [
    "Wider is better.\n\nSource: A et al. 2024,\n  arXiv:1.\nDepartures: fewer steps.\nPilot: width 64 only: 300.\n"
    "Gates: the default.",
    # labels inline, after the end of a sentence
    "Wider is better.\n\nSource: A et al. 2024, arXiv:1. Departures: fewer steps. Pilot: width 64 only: 300.\n"
    "Gates: the default.",
    "Wider is better. Source: A et al. 2024, arXiv:1. Departures: fewer steps.\nPilot: width 64 only: 300. "
    "Gates: the default.",
    # case, singular and plural, spaces, bold, no space after the colon, paragraphs between blank lines
    "Wider is better.\n\nSOURCES : A et al. 2024, arXiv:1.\n\n**Departure:** fewer steps.\n\n  pilot  :width 64 "
    "only: 300.\n\n__Gate__: the default.",
    # a function's docstring: indented
    "Wider is better.\n\n    Source: A et al. 2024, arXiv:1.\n    Departures: fewer steps.\n"
    "    Pilot: width 64 only: 300.\n    Gates: the default.\n    ",
])
def test_labels_are_found_however_they_are_written(doc):
    d = parse_docstring(doc)
    assert d == {**SECTIONS, "text": d["text"]}


def test_other_words_with_a_colon_stay_in_their_paragraph():
    d = parse_docstring("Wider is better.\n\nSource: A,\narXiv:1.\nDepartures: fewer steps;\nMetrics: the gain.\n"
                        "Gates: the default. Paper effect unknown: a figure only.")
    assert d["source"] == "A, arXiv:1." and d["departures"] == "fewer steps; Metrics: the gain."
    assert d["gates"] == "the default. Paper effect unknown: a figure only."


def test_a_multi_line_statement_a_repeated_label_and_a_paragraph_without_label_are_kept():
    d = parse_docstring("Wider\nis better.\n\nSource: A.\n\nMore about A.\nPilot: none.\nSource: B.")
    assert d["statement"] == "Wider is better." and d["source"] == "A. More about A. B." and d["pilot"] == "none."
    assert d["departures"] == d["gates"] == ""


@pytest.mark.parametrize("doc,message", [
    ("Wider is better.\n\nSource: A.\n\nDeviations: fewer steps.", "'Deviations: fewer steps.' has an unknown label"),
    ("Wider is better.\n\nSource: A.\n\n**Paper effect**: 0.1.", "'**Paper effect**: 0.1.' has an unknown label"),
    ("Wider is better.\n\nDeviations: fewer steps.\nSource: A.", "'Deviations: fewer steps.' has an unknown label"),
    ("Wider is better.\n\nSome context.\n\nSource: A.", "'Some context.' follows the statement but has no label"),
    ("Wider is better.\n\nSome context.", "'Some context.' follows the statement"),
])
def test_text_that_would_be_dropped_is_an_error_naming_it_and_the_labels(doc, message):
    with pytest.raises(ClaimSpecError) as e:
        parse_docstring(doc, "test_c.py::test_c")
    assert str(e.value).startswith("test_c.py::test_c: ") and message in str(e.value)
    assert "Source:, Source status:, Departures:, Pilot:, Gates:" in str(e.value)


def test_every_committed_claim_docstring_has_all_its_sections():
    for path in sorted((ROOT / "claims").glob("test_*.py")):
        d = parse_docstring(ast.get_docstring(ast.parse(path.read_text()), clean=False), path.name)
        assert all(d[label] for label in ("statement", *DOC_LABELS) if label not in OPTIONAL_DOC_LABELS), (path.name, d)
        assert source_status(d) in SOURCE_STATUSES, path.name


@pytest.mark.parametrize("paragraph,status", [
    ("VERIFIED (the abstract).", "VERIFIED"), ("Secondary: an annotation.", "SECONDARY"),
    ("**UNVERIFIED** — the figure was not found.", ""), ("UNVERIFIED", "UNVERIFIED")])
def test_the_source_status_is_the_first_word_of_its_paragraph(paragraph, status):
    doc = f"Wider is better.\n\nSource: A et al. 2024.\nSource status: {paragraph}\nPilot: none."
    if not status:
        with pytest.raises(ClaimSpecError, match="must begin with one of VERIFIED, SECONDARY, UNVERIFIED"):
            parse_docstring(doc)
        return
    d = parse_docstring(doc)
    assert source_status(d) == status and d["source"] == "A et al. 2024." and d["pilot"] == "none."


def test_a_docstring_without_a_source_status_has_none():
    assert source_status(parse_docstring("Wider is better.\n\nSource: A.")) == ""


def test_a_docstring_error_fails_collection_naming_the_claim(tmp_path, pytestconfig):
    shutil.copytree(ROOT / "tests" / "toy", tmp_path, dirs_exist_ok=True)
    claim = tmp_path / "claims" / "test_toy_trend.py"
    claim.write_text(claim.read_text().replace("Pilot: none.", "Pilot: none.\n\nNotes: none."))
    plugin = [] if pytestconfig.pluginmanager.has_plugin("claims") else ["-p", "harness.plugin"]  # not installed
    r = subprocess.run([sys.executable, "-m", "pytest", "claims", "--collect-only", "-q", "-p", "no:cacheprovider",
                        *plugin], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "test_toy_trend.py::test_toy_trend: the docstring's paragraph 'Notes: none.' has an unknown " \
           "label" in r.stdout + r.stderr, r.stdout + r.stderr
