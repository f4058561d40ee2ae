"""Every reference to a Markdown file in the repository resolves, and every cited section exists.

Scanned: the repository's text files (extensions :data:`EXTENSIONS`, and every README), as git
lists them: tracked files and untracked files that git does not ignore (so that a new document
or module is checked before it is committed). A file listed but deleted from the working tree is
not scanned, and is not a valid target.

File references: every token that ends in ``.md`` (``PROTOCOL.md``, ``docs/DATA.md``,
``docs/reproduction/budgets.md``, ``README.md``), outside URLs, must name a file of the
repository (a listed file that exists): a path relative to the repository root, or relative to
the referencing file's folder, or, for a bare name, a file directly in ``docs/``. Exceptions are
listed, with the reason, in :data:`GENERATED_OUTPUTS` and :data:`EXTERNAL`.

Section citations: a Markdown-file name followed by "§N" (also a Markdown link followed by it,
and lists: "§5, §13"; N may be dotted, "§1.2") must point to a heading of the target document
whose number is N. The heading format the documents use, and this test relies on, is a Markdown
heading whose first word is the section number, optionally with a trailing period or a leading
"§": ``## 3. Sparsity``, ``### 1.2 Poisson VAE (`pvae`)``. A bare "§N" inside one of the
specifications directly in ``docs/`` cites that document's own section N. A citation by title
(a Markdown-file name, an optional comma, then a title in double quotes, as the code cites the
protocol's "Convergence" and "Rate") must appear, case-insensitively and as whole words, in a
heading of the target.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = "docs"
EXTENSIONS = (".py", ".md", ".yaml", ".yml", ".toml", ".txt")

_TOKEN = r"(?:\.{1,2}/)?[\w\-][\w.\-/]*?\.md"
"""A path-like token ending in .md (no leading "/" or "~": those are outside the repository)."""
MD_REF = re.compile(rf"(?<![\w./\-])({_TOKEN})(?![\w\-]|\.\w)")
SECTION_LIST = r"(?:\s*(?:,|and|or)?\s*§\s*\d+(?:\.\d+)*)+"
SECTION_REF = re.compile(rf"(?<![\w./\-])({_TOKEN})\]?\)?({SECTION_LIST})")
TITLE_REF = re.compile(rf"(?<![\w./\-])({_TOKEN})\]?\)?(?:'s)?,?\s+\"([^\"\n]{{2,60}})\"")
SECTION_NUMBER = re.compile(r"§\s*(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
HEADING_NUMBER = re.compile(r"^§?\s*(\d+(?:\.\d+)*)\.?(?:\s|$)")
URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")
CODE_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)

GENERATED_OUTPUTS = re.compile(
    r"(?:.*/)?(?:index|scorecard|(?:leaderboard|sweep|convergence|amortization_gap)_\w+)\.md")
"""Names of files the suite writes into a result store at run time, not documents of the
repository: ``reports.build`` writes ``index.md`` and the ``leaderboard_*``, ``sweep_*``,
``convergence_*`` and ``amortization_gap_*`` tables (named after a dataset and profile, e.g.
the tests' ``leaderboard_toy_quick.md``); ``reproduce`` writes ``scorecard.md``. Code and tests
name them as outputs. Accepted only in ``.py`` files: a Markdown link to a committed report
(``docs/reproduction/scorecard.md``) must still resolve."""

EXTERNAL: dict[str, str] = {}
"""Markdown files of other repositories (e.g. the papers' code) that the repository may name,
each with why. Empty: no reference names one today. URLs are never checked."""


def listed_files() -> set[str]:
    """The repository's files as git lists them (tracked, and untracked but not ignored), as
    POSIX paths relative to the root; the test skips when git cannot list them."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"git cannot list the repository's files here ({type(exc).__name__}: {exc})")
    files = {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}
    if not files:
        pytest.skip(f"{REPO} is not a git checkout with files (git ls-files listed none)")
    return files


def scanned(files: set[str]) -> list[str]:
    """The text files to scan: :data:`EXTENSIONS` and READMEs, present in the working tree."""
    return sorted(p for p in files
                  if (p.endswith(EXTENSIONS) or Path(p).name.upper().startswith("README"))
                  and (REPO / p).is_file())


def read_text(rel: str) -> str:
    """The file's text with every URL blanked out (same length, so positions stay valid)."""
    text = (REPO / rel).read_text(encoding="utf-8", errors="replace")
    return URL.sub(lambda m: " " * len(m.group()), text)


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def candidates(ref: str, source: str) -> list[str]:
    """Where ``ref`` (cited in ``source``) may live, as POSIX paths relative to the root (without
    duplicates; paths outside the repository left out): relative to the root, to ``source``'s
    folder, and for a bare name in ``docs/``."""
    root = REPO.resolve()
    paths = [REPO / ref, (REPO / source).parent / ref]
    if "/" not in ref:
        paths.append(REPO / DOCS / ref)
    out = []
    for path in paths:
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:  # outside the repository
            continue
        if rel not in out:
            out.append(rel)
    return out


def resolve(ref: str, source: str, files: set[str]) -> str | None:
    """The repository file ``ref`` (cited in ``source``) names (the first of :func:`candidates`
    that git lists and that exists), or None."""
    return next((rel for rel in candidates(ref, source)
                 if rel in files and (REPO / rel).is_file()), None)


def headings(rel: str) -> tuple[set[str], list[str]]:
    """(section numbers, heading texts) of the Markdown file ``rel`` (code blocks skipped)."""
    text = CODE_FENCE.sub("", (REPO / rel).read_text(encoding="utf-8", errors="replace"))
    titles = HEADING.findall(text)
    numbers = {m.group(1) for t in titles if (m := HEADING_NUMBER.match(t))}
    return numbers, titles


@pytest.fixture(scope="module")
def files() -> set[str]:
    return listed_files()


@pytest.fixture(scope="module")
def references(files) -> list[tuple[str, int, str]]:
    """(file, line, reference) of every Markdown-file reference in the scanned files."""
    refs = []
    for rel in scanned(files):
        text = read_text(rel)
        refs += [(rel, line_of(text, m.start(1)), m.group(1)) for m in MD_REF.finditer(text)]
    return refs


def test_references_are_found(references):
    """Guard against a scanner that silently finds nothing: the code cites the three specs."""
    names = {Path(ref).name for _, _, ref in references}
    assert {"PROTOCOL.md", "METHODS.md", "DATA.md"} <= names, sorted(names)


def test_markdown_references_resolve(files, references):
    problems = []
    for rel, line, ref in dict.fromkeys(references):  # a Markdown link names its file twice
        if resolve(ref, rel, files) is not None or Path(ref).name in EXTERNAL:
            continue
        if rel.endswith(".py") and GENERATED_OUTPUTS.fullmatch(ref):
            continue
        problems.append(f"{rel}:{line}: {ref!r} names no file of the repository (looked for "
                        f"{', '.join(candidates(ref, rel)) or 'nothing inside it'})")
    assert not problems, "broken Markdown references:\n" + "\n".join(problems)


def section_citations(files: set[str]) -> list[tuple[str, int, str, str, str]]:
    """(file, line, cited document as written, target file or "", section number) of every
    "§N" citation: after a Markdown-file name, or bare inside a specification in docs/."""
    out = []
    specs = {p for p in files if p.startswith(f"{DOCS}/") and p.count("/") == 1
             and p.endswith(".md")}
    for rel in scanned(files):
        text = read_text(rel)
        claimed = []
        for m in SECTION_REF.finditer(text):
            target = resolve(m.group(1), rel, files) or ""
            claimed.append((m.start(2), m.end(2)))
            for n in SECTION_NUMBER.finditer(m.group(2)):
                out.append((rel, line_of(text, m.start(2) + n.start()), m.group(1), target,
                            n.group(1)))
        if rel in specs:
            for n in SECTION_NUMBER.finditer(text):
                if not any(a <= n.start() < b for a, b in claimed):
                    out.append((rel, line_of(text, n.start()), "(this document)", rel, n.group(1)))
    return out


def _key(number: str) -> tuple[int, ...]:
    """Sort key of a dotted section number: "2" < "10", "1.2" < "1.10"."""
    return tuple(int(part) for part in number.split("."))


def test_cited_sections_exist(files):
    cites = section_citations(files)
    assert any(doc.endswith("METHODS.md") for _, _, doc, _, _ in cites), \
        "no METHODS.md section citation found, though the code cites them: the scanner is broken"
    problems, cache = [], {}
    for rel, line, doc, target, number in cites:
        if not target:
            problems.append(f"{rel}:{line}: cites {doc} §{number}, but {doc} names no file of the "
                            "repository")
            continue
        if target not in cache:
            cache[target] = headings(target)[0]
        numbers = cache[target]
        if number not in numbers:
            have = ", ".join(sorted(numbers, key=_key)) or "none"
            problems.append(f"{rel}:{line}: cites {doc} §{number}, but {target} has no heading "
                            f"numbered {number} (it has: {have})")
    assert not problems, ("cited sections missing (headings must start with the number, e.g. "
                          "'## 3. Sparsity'):\n" + "\n".join(problems))


def test_sections_cited_by_title_exist(files):
    problems = []
    for rel in scanned(files):
        text = read_text(rel)
        for m in TITLE_REF.finditer(text):
            target = resolve(m.group(1), rel, files)
            if target is None:
                continue  # reported by test_markdown_references_resolve
            _, titles = headings(target)
            title = re.compile(rf"\b{re.escape(m.group(2).strip())}\b", re.IGNORECASE)
            if not any(title.search(t) for t in titles):
                problems.append(f"{rel}:{line_of(text, m.start(2))}: cites {m.group(1)} "
                                f"\"{m.group(2)}\", but no heading of {target} contains it")
    assert not problems, "sections cited by title missing:\n" + "\n".join(problems)
