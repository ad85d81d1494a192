"""Build two more BEIR-form evaluation collections, with query styles unlike SciFact's claims
and the Python manual's questions, from documents and judgments nobody here wrote.

* ``texindex``: short keyword queries. The corpus is every node (section) of the GNU Info
  manuals installed under /usr/share/info (coreutils, grep, sed, find, gzip, wget, gnupg,
  gettext, diffutils, ...) and a few more from Debian packages (bash, gnuplot, libtool,
  automake) when their files are in ``--info-dirs``; index nodes themselves are left out.
  Queries are the manuals' own index entries ("--ignore-case", "backreferences", "exit
  status"); the relevant documents are the nodes the authors' index points each entry to.
  Entries that merely repeat their node's name, that have no letter, or that point to more
  than three nodes are skipped; ``MAX_QUERIES`` are sampled with a fixed seed.
* ``debman``: long, wordy queries. The corpus is the manual pages (sections 1, 5 and 8, in
  English) shipped by the 900 Debian 12 packages listed in ``debman_packages.txt`` (a sample
  drawn with seed 19 from the sections utils, admin, net and text, amd64 or all, installed
  size at most 4 MB; 559 of them ship such pages), rendered with ``man`` and cut at
  ``MAX_PAGE_WORDS`` words. Each query is a package's long description (the paragraphs of
  its ``Description`` field after the synopsis line) from its control file; the relevant
  documents are the manual pages that package ships.

Neither retriever had a say in any judgment: they come from the manuals' indexes and from
the packages' contents.

    python bench/build_manual_collections.py --download   # once: apt-get download, no root
    python bench/build_manual_collections.py [--out bench/results/collections]

``--download`` fetches the listed packages and the four that carry more Info manuals into
``~/.cache/tasksift-bench/debian`` (``debs/``, unpacked under ``root/``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "collections"
DEBIAN = Path.home() / ".cache/tasksift-bench/debian"
DEBS = DEBIAN / "debs"
ROOTS = DEBIAN / "root"
PACKAGE_LIST = Path(__file__).resolve().parent / "debman_packages.txt"
INFO_PACKAGES = ("bash-doc", "gnuplot-doc", "libtool-doc", "automake")  # Info manuals
INFO_DIRS = [Path("/usr/share/info")] + [ROOTS / p / "usr/share/info" for p in INFO_PACKAGES]
SKIP_MANUALS = {"python3.11", "find-maint", "rluserman"}  # pyfaq's corpus; maintainer notes
MAX_QUERIES = 600
MIN_NODE_WORDS = 20
MIN_PAGE_WORDS = 40
MAX_PAGE_WORDS = 1000
MIN_DESCRIPTION_WORDS = 12
SEED = 19
NODE_HEADER = re.compile(r"^File: [^,]+,\s+Node: ([^,\n]+)", re.M)
INDEX_ENTRY = re.compile(r"^\* (.+?):\s+([^\n]+?)\.\s+\(line +\d+\)", re.M)
WRAPPED = re.compile(r"\.\n\s+\(line")


def info_manuals(dirs: list[Path]) -> dict[str, str]:
    """Each manual's text (its split parts joined), by manual name."""
    parts: dict[str, list[Path]] = defaultdict(list)
    for folder in dirs:
        for path in sorted(folder.glob("*.info*.gz")):
            name = re.sub(r"\.info(-\d+)?\.gz$", "", path.name)
            if name not in SKIP_MANUALS:
                parts[name].append(path)
    return {
        name: "".join(gzip.open(p, "rt", encoding="utf-8", errors="replace").read() for p in ps)
        for name, ps in parts.items()
    }


def info_nodes(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The manual's prose nodes ``{node: text}`` and its index entries ``(entry, node)``."""
    nodes, entries = {}, []
    for block in text.split("\x1f\n"):
        header = NODE_HEADER.match(block)
        if header is None:
            continue
        node = header.group(1).strip()
        body = block[header.end() :].split("\n", 1)[-1]
        if "\x00\x08[index\x00\x08]" in body:
            for entry, target in INDEX_ENTRY.findall(WRAPPED.sub(". (line", body)):
                entries.append((re.sub(r"\s*<\d+>$", "", entry).strip(), target.strip()))
            continue
        body = body.split("* Menu:")[0]  # the menu lists subsections, not this node's text
        nodes[node] = re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", body)).strip()
    return nodes, entries


def build_texindex(dirs: list[Path]) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    corpus, targets = [], defaultdict(set)
    for manual, text in sorted(info_manuals(dirs).items()):
        nodes, entries = info_nodes(text)
        kept = {n for n, body in nodes.items() if len(body.split()) >= MIN_NODE_WORDS}
        corpus += [{"_id": f"{manual}#{n}", "title": n, "text": nodes[n]} for n in sorted(kept)]
        for entry, node in entries:
            if node in kept and entry.lower() != node.lower() and re.search("[A-Za-z]", entry):
                targets[entry].add(f"{manual}#{node}")
    usable = sorted(e for e, ds in targets.items() if len(ds) <= 3)
    chosen = sorted(random.Random(SEED).sample(usable, min(MAX_QUERIES, len(usable))))
    queries = [{"_id": f"t{i}", "text": e} for i, e in enumerate(chosen)]
    qrels = [(q["_id"], d) for q in queries for d in sorted(targets[q["text"]])]
    return corpus, queries, qrels


def control(deb: Path) -> tuple[str, str]:
    """A package's name and long description (without the synopsis line)."""
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Description"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    package = fields.split("\n", 1)[0].removeprefix("Package: ").strip()
    lines = fields.split("Description:", 1)[1].split("\n")[1:]
    paragraphs = " ".join("\n" if line.strip() == "." else line.strip() for line in lines)
    return package, re.sub(r"\s+", " ", paragraphs).strip()


def render(page: Path) -> str:
    environment = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    done = subprocess.run(
        ["man", "-l", "-P", "cat", str(page)], capture_output=True, text=True, env=environment
    )
    text = re.sub(r".\x08", "", done.stdout)
    return " ".join(text.split()[:MAX_PAGE_WORDS])


def download(packages: list[str]) -> None:
    """Fetch ``packages`` into DEBS (skipping those there) and unpack each under ROOTS."""
    DEBS.mkdir(parents=True, exist_ok=True)
    ROOTS.mkdir(parents=True, exist_ok=True)
    have = {deb.name.split("_", 1)[0] for deb in DEBS.glob("*.deb")}
    missing = [p for p in packages if p not in have]
    if missing:
        subprocess.run(["apt-get", "download", "-qq", *missing], cwd=DEBS, check=True)
    for deb in sorted(DEBS.glob("*.deb")):
        root = ROOTS / deb.name.split("_", 1)[0]
        if not root.is_dir():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)


def listed_packages() -> list[str]:
    return [line.strip() for line in PACKAGE_LIST.read_text().splitlines() if line.strip()]


def build_debman(debs: Path, roots: Path) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    pages: dict[str, list[Path]] = {}
    descriptions: dict[str, str] = {}
    listed = set(listed_packages())
    for deb in sorted(debs.glob("*.deb")):
        package, description = control(deb)
        if package not in listed:
            continue
        found = sorted(
            p
            for section in ("man1", "man5", "man8")
            for p in (roots / package / "usr/share/man" / section).glob("*.gz")
            if not p.is_symlink()
        )
        if found and len(description.split()) >= MIN_DESCRIPTION_WORDS:
            pages[package], descriptions[package] = found, description
    every = [(package, p) for package, ps in pages.items() for p in ps]
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda item: render(item[1]), every))
    corpus, relevant = [], defaultdict(list)
    for (package, page), text in zip(every, texts, strict=True):
        if len(text.split()) < MIN_PAGE_WORDS:
            continue
        name = page.name.removesuffix(".gz")
        doc_id = f"{package}/{name}"
        corpus.append({"_id": doc_id, "title": name, "text": text})
        relevant[package].append(doc_id)
    queries = [{"_id": p, "text": descriptions[p]} for p in sorted(relevant)]
    qrels = [(p, d) for p in sorted(relevant) for d in relevant[p]]
    return corpus, queries, qrels


def write(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    with open(folder / "qrels.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{q}\t{d}\t1\n" for q, d in qrels)
    words = sum(len(q["text"].split()) for q in queries) / max(len(queries), 1)
    print(f"{folder.name}: {len(corpus)} documents, {len(queries)} queries "
          f"({words:.1f} words each), {len(qrels)} judgments")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", choices=["texindex", "debman"])
    parser.add_argument("--download", action="store_true", help="fetch the packages first")
    args = parser.parse_args()
    if args.download:
        download([*listed_packages(), *INFO_PACKAGES])
    if args.only in (None, "texindex"):
        write(args.out / "texindex", *build_texindex(INFO_DIRS))
    if args.only in (None, "debman"):
        write(args.out / "debman", *build_debman(DEBS, ROOTS))


if __name__ == "__main__":
    main()
