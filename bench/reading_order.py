"""Reading order of two-column papers: is the abstract one paragraph, are columns kept apart?

    python bench/reading_order.py [--corpus DIR]

On journal class samples from Debian's texlive-publishers-doc (see bench/robustness.py for
fetching the corpus), with words taken by hand from the LaTeX source shipped beside each PDF:
the abstract, the paragraph after the "Abstract" heading, must start and end with the
abstract's first and last words (so it is one paragraph: no blank line inside), and it
should have no line breaks left (lines wrapped at their column's edge); the columns must not
be interleaved line by line, checked on sentences of the body that cross line ends in the
PDF: each must come out whole within one paragraph. Prints what it checked and writes
bench/results/reading_order.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import RESULTS

LATEX = Path("usr/share/doc/texlive-doc/latex")
# (paper, layout, the abstract's first words, its last words, body sentences that a line end
# crosses in the PDF: interleaved columns would cut them)
PAPERS = [
    (
        "texlive-publishers-doc/" + str(LATEX / "elsarticle/elstest-5p.pdf"),
        "elsarticle 5p: two columns, abstract across both",
        "In this work we demonstrate",
        "into a linear chain.",
        [
            "One proposed solution to this issue is to place the crystal into a planar",
            "are good candidates for BEC due to their narrow line-width and long life-time",
        ],
    ),
    (
        "texlive-publishers-doc/" + str(LATEX / "elsarticle/elstest-3pd.pdf"),
        "elsarticle 3p double column",
        "In this work we demonstrate",
        "into a linear chain.",
        ["One proposed solution to this issue is to place the crystal into a planar"],
    ),
    (
        "texlive-publishers-doc/" + str(LATEX / "acmart/samples/sample-sigconf.pdf"),
        "acmart sigconf: two columns, abstract in the first",
        "A clear and well-documented LATEX document is presented",
        "in the preparation of the documentation of their work.",
        [
            "ACM's consolidated article template, introduced in 2017, provides a consistent",
            "Numerous ACM and SIG-specific LATEX templates have been examined",
        ],
    ),
    (
        "texlive-publishers-doc/" + str(LATEX / "acmart/samples/sample-sigplan.pdf"),
        "acmart sigplan: two columns",
        "A clear and well-documented LATEX document is presented",
        "in the preparation of the documentation of their work.",
        ["ACM's consolidated article template, introduced in 2017, provides a consistent"],
    ),
]


def normal(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split())


def check(path: Path, first: str, last: str, probes: list[str]) -> dict:
    from tasksift.documents.pdf import PdfReader

    text = PdfReader().read(path.read_bytes(), path).text
    paragraphs = [normal(p) for p in text.split("\n\n")]
    heading = next((i for i, p in enumerate(paragraphs) if p.lower() == "abstract"), None)
    abstract = paragraphs[heading + 1] if heading is not None else ""
    one = abstract.startswith(first) and abstract.endswith(last)
    raw = next((p for p in text.split("\n\n") if normal(p) == abstract), "")
    whole = {probe: any(probe in p for p in paragraphs) for probe in probes}
    return {
        "abstract_one_paragraph": one,
        "abstract_words": len(abstract.split()),
        "abstract_line_breaks": raw.strip().count("\n"),
        "body_sentences_whole": whole,
        "ok": one and all(whole.values()),
    }


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from robustness import CORPUS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    results = {}
    for name, layout, first, last, probes in PAPERS:
        path = args.corpus / name
        if not path.is_file():
            print(f"missing: {name}")
            continue
        result = check(path, first, last, probes)
        results[path.name] = {"layout": layout, **result}
        print(f"{path.name} ({layout})")
        print(
            f"  abstract one paragraph: {result['abstract_one_paragraph']}"
            f" ({result['abstract_words']} words, {result['abstract_line_breaks']} line breaks)"
        )
        for probe, whole in result["body_sentences_whole"].items():
            print(f"  body sentence whole: {whole}  {probe[:60]!r}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reading_order.json").write_text(json.dumps(results, indent=1))
    failed = [name for name, result in results.items() if not result["ok"]]
    print(f"checked {len(results)} papers; failed: {failed or 'none'}")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
