"""Every line the responder logs is documented in packaging/LOG-LINES.md.

The log calls are found in the source (AST): calls of `log`, `_log` or `say` in
netready/responder/, in `cmd_responder` and in the CLI's `main` (errors), plus the stop line
(`ResponderStats.summary`) and the suppressed-lines suffix (`SessionTable.log`). Each
format string is reduced to its literal fragments; a documented line must hold them all,
in order. So a new log line cannot slip in undocumented.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "packaging" / "LOG-LINES.md"
LOG_FUNCTIONS = {"log", "_log", "say"}
PLACEHOLDER = "\0"


def fragments(node: ast.expr) -> str | None:
    """A format with PLACEHOLDER for every run-time part; None if it holds no literal text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = fragments(node.left), fragments(node.right)
        if left is None and right is None:
            return None
        return (left or PLACEHOLDER) + (right or PLACEHOLDER)
    if isinstance(node, ast.IfExp):  # an optional part: documented with its text
        body = fragments(node.body)
        return PLACEHOLDER + body + PLACEHOLDER if body else None
    return None


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def log_formats() -> dict[str, str]:
    """format -> where it is, for every log line of the responder."""
    found: dict[str, str] = {}
    sources = sorted((ROOT / "netready" / "responder").glob("*.py"))
    sources += [ROOT / "netready" / "commands.py", ROOT / "netready" / "cli.py"]
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            if (path.name, func.name) in (("commands.py", "cmd_responder"), ("cli.py", "main")):
                pass
            elif path.parent.name != "responder":
                continue
            where = f"{path.relative_to(ROOT)}:{func.name}"
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and _called_name(node) in LOG_FUNCTIONS:
                    text = fragments(node.args[0]) if node.args else None
                    if text is not None:
                        found[text] = f"{where}:{node.lineno}"
                if func.name == "summary" and isinstance(node, ast.Return) and node.value:
                    text = fragments(node.value)
                    if text is not None:
                        found[text] = f"{where}:{node.lineno}"
                if (
                    func.name == "log"
                    and isinstance(node, ast.Assign)
                    and (text := fragments(node.value)) is not None
                    and text.strip(PLACEHOLDER)
                ):
                    found[text] = f"{where}:{node.lineno}"
    return found


def documented_lines() -> list[str]:
    """The lines of LOG-LINES.md written in backquotes (the documented formats)."""
    lines = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            lines.append(line.split("`")[1])
    return lines


def holds_in_order(doc_line: str, fmt: str) -> bool:
    position = 0
    for part in fmt.split(PLACEHOLDER):
        if not part.strip():
            continue
        found = doc_line.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def test_the_scan_finds_the_known_lines() -> None:
    formats = " | ".join(log_formats())
    for known in (
        "netready responder listening on ",
        "netready responder stopped: STAMP ",
        "STAMP session ",
        "internal error (ignored)",
        "netready responder metrics on ",
    ):
        assert known in formats


def test_every_log_line_is_documented() -> None:
    doc = documented_lines()
    missing = [
        f"{where}: {fmt.replace(PLACEHOLDER, '{…}')!r}"
        for fmt, where in log_formats().items()
        if not any(holds_in_order(line, fmt) for line in doc)
    ]
    assert not missing, "add these to packaging/LOG-LINES.md:\n" + "\n".join(missing)


def test_a_new_line_would_be_caught() -> None:
    fmt = fragments(ast.parse('f"netready responder: something new {x}"', mode="eval").body)
    assert fmt is not None
    assert not any(holds_in_order(line, fmt) for line in documented_lines())
