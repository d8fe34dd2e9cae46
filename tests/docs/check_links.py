#!/usr/bin/python3
"""Every relative link of the README and the docs points at a file that exists, and every
#anchor at a heading of that file (GitHub's anchor rules); every repository path the text
names (lib/..., docs/..., examples/...) exists. Web links are not fetched.

Usage: /usr/bin/python3 tests/docs/check_links.py [REPO]"""
import os
import re
import sys

LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
# A repository path named in the text (`lib/encoder/bert.cpp`, docs/DESIGN.md): it must exist too.
PATH = re.compile(r"(?<![\w./-])((?:lib|include|apps|python_bindings|examples|tests|data|docs|scripts|\.ci)/[\w./+{},-]*[\w/}])")


def anchors(path):
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped,
    spaces to hyphens, -1, -2 ... for repeats."""
    seen, out = {}, set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_code or not m:
            continue
        text = re.sub(r"`([^`]*)`", r"\1", m.group(1))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path):
    in_code = False
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if in_code:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        for m in list(LINK.finditer(line)) + list(IMAGE.finditer(line)):
            yield no, m.group(1)


def named_paths(path):
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        for m in PATH.finditer(line):
            yield no, m.group(1)


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    pages = [os.path.join(repo, "README.md")]
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build") and d != "third_party"]
        for f in files:
            p = os.path.join(root, f)
            if f.endswith(".md") and p not in pages and ("/docs/" in p or "/examples/" in p or root == repo):
                pages.append(p)
    bad, count = [], 0
    for page in pages:
        for no, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            count += 1
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
            where = f"{os.path.relpath(page, repo)}:{no}: {target}"
            if not os.path.exists(dest):
                bad.append(f"{where}: no such file {os.path.relpath(dest, repo)}")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                bad.append(f"{where}: no heading #{anchor} in {os.path.relpath(dest, repo)}")
        for no, named in named_paths(page):
            if "*" in named or "/build" in named or named == "examples/s":  # globs, outputs, "examples/s" the unit
                continue
            m = re.match(r"^(.*)\{([^}]*)\}(.*)$", named)  # lib/encoder/bert.{hpp,cpp}
            for one in ([m.group(1) + x + m.group(3) for x in m.group(2).split(",")] if m else [named.rstrip(",")]):
                count += 1
                if not os.path.exists(os.path.join(repo, one)):
                    bad.append(f"{os.path.relpath(page, repo)}:{no}: names {one}, which does not exist")
    for b in bad:
        print("BROKEN", b)
    if bad:
        sys.exit(f"{len(bad)} broken link(s) of {count} in {len(pages)} pages")
    print(f"links: {count} relative links in {len(pages)} pages, all resolve")


if __name__ == "__main__":
    main()
