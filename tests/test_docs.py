"""The documentation names only things that exist: every link, repository path, module, script and make target.

Reads README.md, docs/*.md and experiments/README.md. Checked:
- markdown links and images (relative to the file) point at existing files or folders;
- code spans and code blocks: paths under the tracked top-level folders exist; bare ``name.py`` files exist somewhere
  in the tree; dotted ``handobjectconsist.*`` / ``libyana.*`` / ``experiments.*`` names resolve to a module or to an
  attribute of one; ``python -m X`` targets answer ``--help`` with status 0; ``python X.py`` scripts exist;
  ``make X`` targets are defined in the Makefile.
Placeholders (``<...>``, ``{...}``, ``*``, upper-case NAME parts) and generated outputs are skipped.
"""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "experiments" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Top-level entries whose paths the docs may name; other first components (data/, checkpoints/, predictions/, ...)
# are outputs or user folders.
TRACKED_TOP = ("handobjectconsist", "libyana", "tests", "benchmarks", "experiments", "docs", ".ci")
GENERATED = ("benchmarks/results", "experiments/results/sparse_consistency")
PACKAGES = ("handobjectconsist", "libyana", "experiments")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"(?<![\w./-])((?:\.ci|[A-Za-z_][\w.-]*)(?:/[\w.{},*<>-]+)+/?)")
BARE_PY = re.compile(r"(?<![\w./-])([a-z_][\w]*\.py)\b")
DOTTED = re.compile(r"(?<![\w./-])((?:handobjectconsist|libyana|experiments)(?:\.[A-Za-z_]\w*)+)")
PYTHON_M = re.compile(r"python3? -m ([\w.]+)")
PYTHON_SCRIPT = re.compile(r"python3? ([\w/.-]+\.py)")
MAKE = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _code(text: str) -> str:
    """All code: fenced blocks and inline spans (a code span never spans a line)."""
    blocks = CODE_BLOCK.findall(text)
    rest = CODE_BLOCK.sub("", text)
    return "\n".join(blocks + CODE_SPAN.findall(rest))


def _is_placeholder(token: str) -> bool:
    return any(c in token for c in "<>{}*") or bool(re.search(r"(^|/)[A-Z][A-Z_]+(\.|/|$)", token))


def _cases(pattern, source):
    found = []
    for doc in DOCS:
        text = _text(doc)
        for token in pattern.findall(text if source == "text" else _code(text)):
            found.append((doc.relative_to(ROOT).as_posix(), token))
    return sorted(set(found))


@lru_cache(maxsize=None)
def _tree_files():
    return {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}


def test_the_docs_exist_and_say_something():
    assert all(doc.is_file() for doc in DOCS)
    assert len(DOCS) >= 4
    assert len(_cases(LINK, "text")) > 10


@pytest.mark.parametrize("doc,target", _cases(LINK, "text"))
def test_links_point_at_files(doc, target):
    if re.match(r"[a-z]+:", target) or target.startswith("#"):
        return
    path = (ROOT / doc).parent / target.split("#", 1)[0]
    assert path.exists(), f"{doc}: link to {target}, which does not exist"


def _is_output_flag_value(doc: str, token: str) -> bool:
    """The token is only ever written as the value of an output flag (--out, --out_dir, --exp_dir, --runs_dir):
    a folder the command creates, which need not exist before it runs."""
    code = _code(_text(ROOT / doc))
    uses = [m.start() for m in re.finditer(re.escape(token), code)]
    as_output = [m.start() for m in re.finditer(r"--(?:out|out_dir|exp_dir|runs_dir)[ =]" + re.escape(token), code)]
    return len(as_output) == len(uses) > 0


@pytest.mark.parametrize("doc,token", _cases(PATH, "code"))
def test_repository_paths_exist(doc, token):
    if _is_placeholder(token) or token.split("/", 1)[0] not in TRACKED_TOP or token.startswith(GENERATED):
        return
    if _is_output_flag_value(doc, token):
        return
    path = ROOT / token
    # an `--out` prefix names the files the script writes with their suffixes (PREFIX.md, PREFIX.json)
    exists = path.exists() or any(path.parent.glob(path.name + ".*"))
    assert exists, f"{doc} names {token}, which does not exist"


@pytest.mark.parametrize("doc,name", _cases(BARE_PY, "code"))
def test_named_python_files_exist(doc, name):
    assert name in _tree_files(), f"{doc} names {name}; no such file in the tree"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module) if cut < len(parts) else None
            for attr in parts[cut:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


@pytest.mark.parametrize("doc,dotted", _cases(DOTTED, "code"))
def test_dotted_names_resolve(doc, dotted):
    if dotted.endswith((".py", ".md")):
        return
    assert _resolves(dotted), f"{doc} names {dotted}, which is not a module or an attribute of one"


@pytest.mark.parametrize("doc,script", _cases(PYTHON_SCRIPT, "code"))
def test_python_scripts_exist(doc, script):
    if _is_placeholder(script):
        return
    assert (ROOT / script).is_file(), f"{doc} runs `python {script}`, which does not exist"


def _python_m_targets():
    return sorted({module for _, module in _cases(PYTHON_M, "code")})


@pytest.mark.parametrize("module", _python_m_targets())
def test_python_m_targets_answer_help(module):
    if not module.startswith(PACKAGES):
        return  # e.g. `python -m venv`, `python -m pytest`
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"python -m {module} --help: status {done.returncode}\n{done.stderr[-2000:]}"
    assert "usage" in (done.stdout + done.stderr).lower()


def test_make_targets_exist():
    defined = set(re.findall(r"^([a-z][\w-]*):", _text(ROOT / "Makefile"), flags=re.M))
    named = _cases(MAKE, "code")
    assert {"demo", "test", "lint", "help"} <= {target for _, target in named}
    missing = [(doc, target) for doc, target in named if target not in defined]
    assert not missing, f"make targets named in the docs but not in the Makefile: {missing}"


def test_no_internal_work_item_numbers():
    """Users cannot look up the project's internal work items; the docs say what was done, not under which number."""
    for doc in DOCS:
        found = re.findall(r"\b[Ii]ssues? ?#?\d+|\bissue-\d+", _text(doc))
        assert not found, f"{doc.relative_to(ROOT)} names internal work items: {found}"
