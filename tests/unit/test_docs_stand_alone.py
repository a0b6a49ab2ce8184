"""The repository explains itself: no file points a reader at something a clone lacks.

A reference to a design document that is not in the repository, or to a folder beside
the checkout, leaves whoever clones the project with a citation they cannot follow. The
design lives in ``docs/architecture.md``, ``docs/protocol.md`` and ``docs/adr/``; code,
comments, tests, benchmarks, infrastructure and the web client cite those.

Every file git knows about (tracked, plus new files not yet committed and not ignored)
is read; a file with a NUL byte is binary (the screenshots) and has no prose to check.
The patterns are written in pieces, so this file's own text does not match them and
nothing needs to be excluded, this file included.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

_DESIGN = "DESIGN"
_SHARED = "shared"

# What a self-contained repository never cites, and why each one is outside it.
OUTSIDE_REFERENCES: dict[str, re.Pattern[str]] = {
    # the design document that was never committed, by name or by section ("... §3",
    # also when a line break falls between the name and the section sign)
    "a design document outside the repository": re.compile(_DESIGN + r"(?:\.md|\s*§)"),
    # a folder beside the checkout
    "a folder beside the repository": re.compile(r"\.\./" + _SHARED + r"\b"),
    # the same folder named as a bare path, in parentheses, quotes or backticks
    "a folder beside the repository (bare path)": re.compile(
        r"""(?:^|[(`'"])""" + _SHARED + r"/[\w.-]", re.MULTILINE
    ),
    # an absolute path of the machine the project was written on
    "an absolute path outside the repository": re.compile(r"(?<![\w.-])/" + "work" + r"/"),
}


@dataclass(frozen=True)
class Citation:
    """One line of one file that cites something outside the repository."""

    path: str
    line: int
    what: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}: {self.text.strip()[:120]}"


@cache
def repository_files() -> tuple[str, ...]:
    """Every file git would commit: tracked ones and new ones that are not ignored."""
    git = shutil.which("git")
    assert git is not None, "git is needed to list the repository's files"
    listed = subprocess.run(  # noqa: S603 - git, with fixed arguments
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return tuple(sorted({p for p in listed.split("\0") if p and (ROOT / p).is_file()}))


def citations_in(path: str, text: str) -> list[Citation]:
    """The outside references in one file's text, with the line each one starts on."""
    found = []
    for what, pattern in OUTSIDE_REFERENCES.items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Citation(path, line, what, text.splitlines()[line - 1]))
    return found


def text_of(path: str) -> str | None:
    """The file's text, or None for a binary file (one with a NUL byte)."""
    data = (ROOT / path).read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_file_cites_anything_outside_the_repository() -> None:
    found = [
        citation
        for path in repository_files()
        if (text := text_of(path)) is not None
        for citation in citations_in(path, text)
    ]
    assert not found, "cite docs/architecture.md, docs/protocol.md or an ADR instead:\n" + (
        "\n".join(str(c) for c in found)
    )


def test_the_walk_reads_every_kind_of_file_the_project_has() -> None:
    """The check above proves nothing about files it never reads: the walk must reach
    code, SQL, docs, infrastructure, the web client, the template and this file."""
    files = set(repository_files())
    expected = {
        "README.md",
        "docs/architecture.md",
        "docs/protocol.md",
        "functions/chatflow/settings.py",
        "functions/chatflow/db/migrations/0001_schema.sql",
        "infra_cdk/stack.py",
        "template_localstack.yml",
        "web/src/types.ts",
        "bench/history.py",
        "tests/unit/test_docs_stand_alone.py",
    }
    assert expected <= files, f"not walked: {sorted(expected - files)}"
    unread = [p for p in expected if text_of(p) is None]
    assert not unread, f"read as binary: {unread}"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("see " + _DESIGN + ".md for the layout", "a design document outside the repository"),
        ("as " + _DESIGN + " §3 allows", "a design document outside the repository"),
        ("as " + _DESIGN + "\n§3 allows", "a design document outside the repository"),
        ("captured in ../" + _SHARED + "/aws-events", "a folder beside the repository"),
        ("events (" + _SHARED + "/aws-events)", "a folder beside the repository (bare path)"),
        ("open /" + "work/main/README.md", "an absolute path outside the repository"),
    ],
)
def test_each_kind_of_outside_reference_is_caught(text: str, what: str) -> None:
    assert [c.what for c in citations_in("sample.md", text)] == [what]


@pytest.mark.parametrize(
    "text",
    [
        "the design is in docs/architecture.md, section 3",
        "a shared/exclusive lock",  # prose, not a path
        "web/src/shared/thing.ts and layers/shared/x",  # a folder inside a path
        "/home/user/work/file and s3://bucket/work/key",  # 'work' inside a longer path
        "DESIGNATED driver, design.md is not cited",
    ],
)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert citations_in("sample.md", text) == []


def repository_table() -> dict[str, str]:
    """README's "Repository" table: first column (without backticks) -> its row's text."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Repository\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = "|".join(cells[1:])
    return rows


def test_the_readme_repository_table_matches_the_layout() -> None:
    """Every top-level folder has a row and every row names something that exists; the
    functions, tests and docs rows name every package, suite and document in them."""
    rows = repository_table()
    files = repository_files()
    top_folders = {p.split("/", 1)[0] + "/" for p in files if "/" in p and not p.startswith(".")}
    rowless = sorted(top_folders - set(rows))
    assert not rowless, f"top-level folders without a row: {rowless}"
    missing = [name for name in rows if not (ROOT / name).exists()]
    assert not missing, f"rows for what does not exist: {missing}"

    packages = {
        p.split("/")[2] for p in files if re.fullmatch(r"functions/chatflow/\w+/__init__\.py", p)
    }
    unnamed = sorted(p for p in packages if f"`{p}/`" not in rows["functions/"])
    assert not unnamed, f"chatflow packages the functions row does not name: {unnamed}"

    suites = {p.split("/")[1] for p in files if re.fullmatch(r"tests/\w+/.+", p)}
    unnamed = sorted(s for s in suites if f"`{s}`" not in rows["tests/"])
    assert not unnamed, f"test folders the tests row does not name: {unnamed}"

    documents = {p for p in files if re.fullmatch(r"docs/[\w-]+\.md", p)}
    unlinked = sorted(d for d in documents if f"({d})" not in rows["docs/"])
    assert not unlinked, f"documents the docs row does not link: {unlinked}"


def test_the_readme_settings_table_names_every_setting() -> None:
    """docs/architecture.md sends readers to README's "Settings" for every variable, so the
    table must name each field of the settings model (and nothing the model lacks)."""
    from chatflow.settings import Settings

    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    named = {
        name
        for line in section.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }
    fields = {
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    }
    assert sorted(fields - named) == [], "README's Settings table lacks these variables"
    assert sorted(named - fields) == [], "README lists variables the settings model lacks"
