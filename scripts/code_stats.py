"""Lines of code per package of src/tasksift and the longest functions.

    python scripts/code_stats.py [SRC] [--top N]

Lines are non-blank, non-comment source lines (docstrings count); a package is a folder
under src/tasksift (a top-level module counts as its own). Functions are measured from
their ``def`` (decorators included) to their last line.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import tokenize
from collections import Counter
from pathlib import Path


def code_lines(source: str) -> int:
    """Lines that hold a token other than a comment, newline or indentation."""
    lines = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def functions(path: Path, root: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            name = f"{path.relative_to(root).as_posix()}:{node.name}"
            found.append((node.end_lineno - first + 1, name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", type=Path, default=Path("src/tasksift"))
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
    per_package: Counter[str] = Counter()
    longest: list[tuple[int, str]] = []
    for path in sorted(args.src.rglob("*.py")):
        relative = path.relative_to(args.src)
        package = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        per_package[package] += code_lines(path.read_text(encoding="utf-8"))
        longest += functions(path, args.src)
    longest.sort(reverse=True)
    if args.json:
        print(json.dumps({"packages": dict(per_package), "total": sum(per_package.values()),
                          "longest": longest[: args.top]}, indent=1))  # fmt: skip
        return
    for package, lines in sorted(per_package.items(), key=lambda item: -item[1]):
        print(f"{package:<14} {lines:>6}")
    print(f"{'total':<14} {sum(per_package.values()):>6}")
    for lines, name in longest[: args.top]:
        print(f"{lines:>4} lines  {name}")


if __name__ == "__main__":
    main()
