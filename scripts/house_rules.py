#!/usr/bin/env python3
"""The house rules of docs/architecture.md, measured: no source file over 900 lines and no
function over 100 lines (from its signature to its closing brace) in core/, plugins/, widgets/
and app/, except the ones listed in scripts/house_rules_exceptions.txt with a reason.

Functions are found by brace matching on the text with comments and string literals blanked:
a '{' that closes a line ending a parameter list ')' (optionally followed by const, override,
noexcept, an initializer list or a trailing return) at namespace or class level opens one.
Lambdas inside a function count towards that function.

Every .cpp and .h under those folders, tests/ and bench/ must also be as clang-format 14
writes it with the repository's .clang-format (clang-format-14 is one of
scripts/install-deps.sh's packages; run `clang-format-14 -i FILE` to format one).

Usage: scripts/house_rules.py   prints violations; exit 1 if any is not excepted.
"""
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIRS = ["core", "plugins", "widgets", "app"]
MAX_FILE, MAX_FUNCTION = 900, 100


def blank(text):
    """Comments and string/char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                j = n if end < 0 else end + len(m.group(1)) + 2
                out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
            else:
                out.append(c); i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


HEAD = re.compile(r"\)\s*(const)?\s*(noexcept)?\s*(override|final)?\s*(->\s*[\w:<>,\s*&]+)?\s*$")


def functions(path):
    text = blank(path.read_text(encoding="utf-8", errors="replace"))
    lines = text.split("\n")
    depth_kind = []  # stack of 'ns'/'class'/'fn'/'block'
    found, start = [], None
    line_no, pending = 1, ""
    for ch_index, ch in enumerate(text):
        if ch == "\n":
            line_no += 1
            continue
        if ch == "{":
            before = text[max(0, ch_index - 400):ch_index]
            inside_fn = "fn" in depth_kind
            kind = "block"
            if not inside_fn:
                tail = before.rstrip()
                if re.search(r"\b(namespace)\b[\w:\s]*$", tail) or tail.endswith('extern "C"'):
                    kind = "ns"
                elif re.search(r"\b(class|struct|union|enum)\b[^;{}()]*$", tail):
                    kind = "class"
                elif HEAD.search(tail) or re.search(r"\)\s*:\s*[^;{}]*\)\s*$", tail) or re.search(r"\)\s*:[^;{}]*\}\s*$", tail):
                    kind = "fn"
            if kind == "fn":
                start = line_no
                # the signature may begin a few lines up: walk back to the line holding its '('
                depth, k = 0, ch_index - 1
                while k >= 0:
                    if text[k] == ")": depth += 1
                    elif text[k] == "(":
                        depth -= 1
                        if depth == 0: break
                    k -= 1
                sig_line = text.count("\n", 0, max(k, 0)) + 1
                found.append([sig_line, None, lines[sig_line - 1].strip()[:80]])
            depth_kind.append(kind)
        elif ch == "}":
            if depth_kind:
                kind = depth_kind.pop()
                if kind == "fn" and "fn" not in depth_kind:
                    found[-1][1] = line_no
    return [(a, b, s) for a, b, s in found if b is not None]


def unformatted():
    """The sources clang-format 14 would change, as violations."""
    tool = shutil.which("clang-format-14")
    if not tool:
        return ["clang-format-14 is not installed (scripts/install-deps.sh installs it)"]
    files = sorted(str(p) for d in DIRS + ["tests", "bench"] for p in (ROOT / d).rglob("*")
                   if p.suffix in (".cpp", ".h") and p.is_file())
    out = subprocess.run([tool, "--style=file", "--dry-run", "-Werror", *files], cwd=ROOT,
                         capture_output=True, text=True)
    names = sorted({line.split(":")[0] for line in out.stderr.splitlines() if ": error:" in line})
    return [f"{pathlib.Path(n).relative_to(ROOT).as_posix()}: not formatted (clang-format-14 -i {n})" for n in names]


def main():
    exceptions = {}
    ex_file = ROOT / "scripts" / "house_rules_exceptions.txt"
    if ex_file.exists():
        for line in ex_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, reason = line.partition(" ")
                exceptions[key] = reason.strip()
    bad, excused, matched = [], [], set()
    for d in DIRS:
        for path in sorted((ROOT / d).rglob("*")):
            if path.suffix not in (".cpp", ".h"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            n = path.read_text(encoding="utf-8", errors="replace").count("\n")
            if n > MAX_FILE:
                (excused if rel in exceptions else bad).append(f"{rel}: {n} lines (file)")
                if rel in exceptions: matched.add(rel)
            for a, b, sig in functions(path):
                length = b - a + 1
                if length > MAX_FUNCTION:
                    key = f"{rel}:{sig.split('(')[0].split()[-1] if '(' in sig else sig}"
                    entry = f"{rel}:{a}: {length} lines: {sig}"
                    (excused if key in exceptions else bad).append(entry + ("" if key not in exceptions else f"  [{exceptions[key]}]"))
                    if key in exceptions: matched.add(key)
    style = unformatted()
    for key in sorted(set(exceptions) - matched):
        bad.append(f"{key}: listed in house_rules_exceptions.txt but no longer over the limit (remove the line)")
    for e in excused:
        print("excepted:", e)
    for b in bad:
        print("TOO LONG:", b)
    for s in style:
        print("STYLE:", s)
    print(f"{len(bad)} over the limits, {len(excused)} excepted (limits: file {MAX_FILE}, function {MAX_FUNCTION} lines); "
          f"{len(style)} not formatted")
    return 1 if bad or style else 0


if __name__ == "__main__":
    sys.exit(main())
