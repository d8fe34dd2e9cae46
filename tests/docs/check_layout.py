#!/usr/bin/env python3
"""Where code lives (issue 32): every function a public header include/kbert/X/*.hpp declares
is implemented under lib/X/, and no source file is long or holds a long function.

  check_layout.py --root REPO --build BUILD_DIR

1. Layout: the strong symbols (nm -C) of every object file of kbert::core and kbert::model,
   matched to the public header that declares their class or function, must come from that
   header's room: lib/X/*.cpp for include/kbert/X/. Names no public header declares
   (kbert::nn, kbert::io, helpers) are internal and free to live anywhere.
2. Sizes: no .cpp/.hpp under lib, apps, include, python_bindings, tests and examples is over
   550 lines, and no function is over 120 lines (braces counted after comments and strings
   are removed; a lambda counts towards the function that holds it).
"""
import argparse
import pathlib
import re
import subprocess
import sys

MAX_FILE, MAX_FUNCTION = 550, 120
INTERNAL_NAMESPACES = {"nn", "io", "kg_detail", "tree_build", "detail", "cli", "python"}


def strip_code(src):
    """Comments, strings and character literals blanked (newlines kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * src.count("\n", i, j))
            i = j
            continue
        m = re.match(r'R"([^(\s]*)\(', src[i:i + 40])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = ")" + m.group(1) + '"'
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
            continue
        c = src[i]
        if c == "'" and i > 0 and src[i - 1].isalnum():  # a digit separator (1'000)
            out.append(c)
            i += 1
            continue
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def long_functions(path):
    """(lines, first line, head) of every function body over MAX_FUNCTION lines."""
    s = strip_code(path.read_text(encoding="utf-8"))
    stack, found, last, line = [], [], 0, 1
    for i, c in enumerate(s):
        if c == "\n":
            line += 1
        elif c == "{":
            head = s[last:i]
            if any(kind == "f" for kind, _, _ in stack):
                kind = "b"
            elif re.search(r"\b(namespace|class|struct|union|enum)\b[^()]*$", head) or 'extern ""' in head:
                kind = "s"
            else:
                kind = "f" if "(" in head else "b"
            stack.append((kind, line, " ".join(head.split())[-70:]))
            last = i + 1
        elif c == "}":
            if stack:
                kind, first, head = stack.pop()
                if kind == "f" and line - first + 1 > MAX_FUNCTION:
                    found.append((line - first + 1, first, head))
            last = i + 1
        elif c == ";":
            last = i + 1
    return found


def check_sizes(root):
    problems = []
    for top in ("lib", "apps", "include", "python_bindings", "tests", "examples"):
        for p in sorted((root / top).rglob("*")):
            if p.suffix not in (".cpp", ".hpp", ".h", ".cc") or "corpus" in p.parts:
                continue
            rel = p.relative_to(root)
            n = p.read_text(encoding="utf-8").count("\n")
            if n > MAX_FILE:
                problems.append(f"{rel}: {n} lines (at most {MAX_FILE})")
            for length, first, head in long_functions(p):
                problems.append(f"{rel}:{first}: a function of {length} lines (at most {MAX_FUNCTION}): {head}")
    return problems


def public_names(root):
    """name -> rooms whose public headers declare it (classes, structs, functions)."""
    names = {}
    for h in sorted((root / "include" / "kbert").glob("*/*.hpp")):
        room = h.parent.name
        s = strip_code(h.read_text(encoding="utf-8"))
        for m in re.finditer(r"\b(?:class|struct)\s+(\w+)\s*(?:final\s*)?[:{]", s):
            names.setdefault(m.group(1), set()).add(room)
        for m in re.finditer(r"[\w>&*\s]\s(~?\w+)\s*\([^;{]*\)\s*(?:const\s*)?(?:noexcept\s*)?;", s):
            names.setdefault(m.group(1), set()).add(room)
    return names


def check_layout(root, build):
    names = public_names(root)
    objects = sorted(build.glob("lib/CMakeFiles/kbert_*.dir/**/*.cpp.o"))
    if not objects:
        return [f"no object files under {build}/lib/CMakeFiles: build first"]
    problems, checked = [], 0
    for obj in objects:
        rel = obj.relative_to(next(p for p in obj.parents if p.name.endswith(".dir")))
        room = rel.parts[0]
        source = "lib/" + str(rel)[: -len(".o")]
        if not (root / source).exists():
            continue  # an object left in the build directory by a file since moved
        out = subprocess.run(["nm", "-C", "--defined-only", str(obj)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 3 or parts[1] != "T":
                continue
            sym = parts[2]
            if not sym.startswith("kbert::") or "(anonymous namespace)" in sym:
                continue
            qualified = re.sub(r"<[^<>]*>", "", sym.split("(")[0])
            parts = [p for p in qualified.split("::")[1:] if p]
            if parts[0] in INTERNAL_NAMESPACES:
                continue
            classes = [p for p in parts[:-1] if p[0].isupper()]
            owner = classes[0] if classes else parts[-1]  # a method belongs to its class's header
            rooms = names.get(owner)
            if not rooms:
                continue  # internal
            checked += 1
            if room not in rooms:
                problems.append(f"{source}: defines {qualified}, declared in include/kbert/{'|'.join(sorted(rooms))}/")
    if checked < 200:
        problems.append(f"only {checked} public symbols found in the objects: the check cannot see the code")
    return sorted(set(problems))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parents[2]))
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    root, build = pathlib.Path(a.root), pathlib.Path(a.build)
    problems = check_sizes(root) + check_layout(root, build)
    for p in problems:
        print(p)
    if problems:
        sys.exit(f"layout: {len(problems)} problem(s)")
    print("layout: every public header's code lives in its room; no file over 550 lines, no function over 120")


if __name__ == "__main__":
    main()
