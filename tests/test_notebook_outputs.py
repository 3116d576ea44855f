"""The notebooks as committed are the full run a student gets from ``make lab``, their text agrees
with their outputs, and nothing in them looks broken or belongs to the machine that ran them.

- Every notebook was executed in full mode: the first line it prints is ``mode: full``, every code
  cell ran once, in order, and no output holds an error or a traceback.
- A number the text quotes comes from a run or is a fact. Every decimal number (``65.1``, ``0.33``)
  and every number with a thousands separator (``1,033``) in a markdown cell (the model answers in
  ``<details>`` blocks included), outside code spans and formulas, must be printed by one of the
  notebook's cells, or be one of the facts below (the paper's tables, the recipes, the datasets'
  sizes): never a number copied by hand from an output, which would drift when the notebook is run
  again. docs/teaching.md's numbers come from the notebooks too, and its class times agree between
  the arc table and each notebook's section.
- What a student sees on opening a notebook (``scripts/run_notebooks.py`` writes it so): ipykernel's
  kernelspec (JupyterLab then does not mark the notebook modified), no widget state and no widget
  view (an explorer's text form follows a figure of the same thing), no stderr output and no
  carriage-return progress junk, and no absolute path of the machine that ran it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dbdgcn_lib.metrics import PAPER_TABLE1, PAPER_TABLE2

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?!\w|[.,]\d)")
# code, formulas, HTML tags (a real tag: "P < 0.4 ... >" in a model answer is text) and link targets
CODE_OR_MATH = re.compile(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|</?[A-Za-z][^>]*>|\]\([^)]*\)", re.DOTALL)


def _paper_numbers() -> set[str]:
    values = [v for table in (PAPER_TABLE1, PAPER_TABLE2) for row in table.values() for v in row.values()]
    return {f"{v:.1f}" for v in values}


#: Numbers that are facts, not results of a run: the paper's tables and the results reported by
#: ADD-GCN's and ML-GCN's authors, the recipes' settings, COCO 2014's and ImageNet's sizes, the
#: embedded dataset's design, and standard constants.
FACTS = _paper_numbers() | {
    # reported results: ADD-GCN 84.2, ML-GCN 83.0, ResNet-101 GMP 81.9 (mAP at 448 px)
    "84.2", "83.0", "81.9",
    # the attention heads' reported COCO mAP: Query2Label's README model table (ResNet-101 at 448: 84.9;
    # CvT-w24 at 384, ImageNet-21k: 91.3), ML-Decoder's MODEL_ZOO.md (TResNet-L at 448: 90.1; TResNet-XL
    # at 640: 91.4); both papers' EMA decay of the weights, 0.9997 (sources in docs/models.md)
    "84.9", "91.3", "90.1", "91.4", "0.9997",
    # recipes (paper, ADD-GCN, the course's presets), thresholds, slopes and scales
    "0.5", "0.05", "0.005", "0.1", "0.4", "0.2", "0.9", "0.25", "0.75", "0.875", "0.66", "0.3", "0.7",
    "1.0", "0.01", "0.001", "0.0001", "10.0", "2.0", "4.0", "0.6", "0.8",
    # COCO 2014 (ML-GCN's counts after dropping unlabelled images) and ImageNet
    "82,081", "40,137", "82,783", "40,504", "45,174", "122,218", "1,000", "1,281,167",
    # the paper's printed train2014 count (two digits of 82,783 swapped: notebook 00 says so)
    "82,738",
    # sizes of the models (parameter counts computed in the notebooks are printed there)
    "44,549,160", "42,500,160",
    # the embedded dataset's design: 2,000 train / 500 val / 1,000 rare / 500 plain images
    "2,000", "10,000",
    # ImageNet normalisation and other constants
    "0.485", "0.456", "0.406", "0.229", "0.224", "0.225", "2.9", "3.14", "2.718", "0.693",
}  # fmt: skip


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out.get("data", {})
            for kind in ("text/plain", "text/markdown", "text/html"):
                if kind in data:
                    parts.append("".join(data[kind]))
        elif out["output_type"] == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def _printed(cells: list[dict]) -> str:
    return "\n".join(_output_text(c) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_a_full_run_without_errors(path):
    cells = [c for c in _cells(path) if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: cells without an execution count (not run)"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), f"{path.name}: not one run in order"
    first = next(
        "".join(o["text"]) for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream"
    )
    assert first.splitlines()[0] == "mode: full", (
        f"{path.name}: first printed line is {first.splitlines()[0]!r}"
    )
    for cell in cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name}: an error output in cell {counts}"
        assert "Traceback (most recent call last)" not in _output_text(cell), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_in_the_text_are_printed_by_a_cell_or_are_facts(path):
    cells = _cells(path)
    printed = _printed(cells)
    unbacked = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = CODE_OR_MATH.sub(" ", "".join(cell["source"]))
        for number in NUMBER.findall(text):
            if number not in FACTS and number not in printed:
                unbacked.append(f"cell {index}: {number}")
    assert not unbacked, (
        f"{path.name}: numbers in the text that no cell prints (print them, or quote the cell's output "
        f"in a printed sentence): {', '.join(unbacked)}"
    )


def test_the_number_pattern():
    text = "mAP 65.1 on 1,033 labels, 3 epochs, version 2.14.1, `0.37` in code, $0.5$ in math, item 1, 2"
    found = NUMBER.findall(CODE_OR_MATH.sub(" ", text))
    assert found == ["65.1", "1,033"]
    answer = (
        "<details><summary>A model answer</summary>\n\nwhen P < 0.4 the recall is 12.5 (>= 3.5)\n</details>"
    )
    assert NUMBER.findall(CODE_OR_MATH.sub(" ", answer)) == ["0.4", "12.5", "3.5"]  # model answers count


def test_numbers_on_the_instructors_page_come_from_the_notebooks():
    """docs/teaching.md quotes what the full run shows; each number must be printed by a notebook."""
    page = NOTEBOOKS[0].parent.parent / "docs" / "teaching.md"
    printed = "\n".join(_printed(_cells(path)) for path in NOTEBOOKS)
    text = CODE_OR_MATH.sub(" ", page.read_text())
    unbacked = sorted({n for n in NUMBER.findall(text) if n not in FACTS and n not in printed})
    assert not unbacked, f"docs/teaching.md quotes numbers no notebook prints: {', '.join(unbacked)}"


TEACHING = NOTEBOOKS[0].parent.parent / "docs" / "teaching.md" if NOTEBOOKS else None
CLASS_TIME = re.compile(r"(?:about )?(\d+)(?:-(\d+))? min")


def _minutes(text: str) -> tuple[int, int]:
    match = CLASS_TIME.search(text)
    assert match, f"no class time in {text!r}"
    low = int(match.group(1))
    return low, int(match.group(2) or low)


def test_class_times_on_the_instructors_page_agree():
    """The arc table's "in class" column and each notebook's "Time in class" line give the same time."""
    text = TEACHING.read_text()
    arc = {}
    for row in re.findall(r"^\| (\d\d) [^|]*\|[^|]*\| ([^|]*) \|$", text, re.MULTILINE):
        arc[row[0]] = _minutes(row[1])
    sections = {}
    for number, body in re.findall(r"^## (\d\d) [^\n]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL):
        line = next(line for line in body.splitlines() if line.startswith("**Time in class"))
        sections[number] = _minutes(line)
    assert sorted(arc) == sorted(sections) == [p.name[:2] for p in NOTEBOOKS]
    differ = [f"{n}: arc {arc[n]}, section {sections[n]}" for n in sorted(arc) if arc[n] != sections[n]]
    assert not differ, "docs/teaching.md gives two class times (minutes, low-high): " + "; ".join(differ)


# -- what a student sees on opening a notebook --------------------------------------------------------

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
REPO = Path(__file__).resolve().parent.parent
# an absolute POSIX path of two or more parts after a space, a quote, "(" or "=" (not a URL's "//host/"),
# or a Windows drive path
ABSOLUTE_PATH = re.compile(r"(?:(?<=[\s'\"(=])|^)/[\w.-]+/[\w./-]+|\b[A-Za-z]:\\\\?[\w.-]", re.MULTILINE)
EXPLORER_LINE = re.compile(r"^[\w -]+explorer: run the notebook from the top")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_unmodified_in_jupyterlab(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata["kernelspec"] == KERNELSPEC, f"{path.name}: kernelspec {metadata['kernelspec']}"
    info = metadata["language_info"]
    assert info["name"] == "python" and info["codemirror_mode"] == {"name": "ipython", "version": 3}
    assert info["pygments_lexer"] == "ipython3" and info["file_extension"] == ".py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_widget_state_and_no_widget_view_is_stored(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], f"{path.name} stores widget state: it renders as dead controls"
    for index, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            stored = set(out.get("data", {})) & set(WIDGET_MIME)
            assert not stored, f"{path.name} cell {index}: a stored widget view ({stored})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stderr_no_progress_junk_and_no_machine_paths_in_outputs(path):
    home = str(Path.home())
    problems = []
    for index, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream" and out["name"] == "stderr":
                problems.append(f"cell {index}: stderr {''.join(out['text'])[:80]!r}")
        text = _output_text(cell)
        if "\r" in text:
            problems.append(f"cell {index}: a carriage return (a progress bar's redraws)")
        for found in ABSOLUTE_PATH.findall(text) + [p for p in (str(REPO), home) if p != "/" and p in text]:
            problems.append(f"cell {index}: the path {found!r}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_the_absolute_path_pattern():
    text = "saved as /root/.cache/torch/x.pth; data root: data; see https://download.pytorch.org/models/r.pth"
    assert ABSOLUTE_PATH.findall(text) == ["/root/.cache/torch/x.pth"]
    assert ABSOLUTE_PATH.findall("3/4 of 1/32; it/s; ~/.cache/x; C:\\Users\\me") == ["C:\\U"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_explorer_follows_a_figure_of_the_same_thing(path):
    """A notebook just opened shows an explorer as one line; the figure just above it shows its content."""
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    for k, cell in enumerate(code):
        if not any(EXPLORER_LINE.match(line) for line in _output_text(cell).splitlines()):
            continue
        before = code[max(0, k - 3) : k]
        figures = [c for c in before for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert figures, (
            f"{path.name}: an explorer (code cell {k}) without a figure in the 3 code cells before it"
        )
