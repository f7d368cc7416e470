#!/usr/bin/env python3
"""List `use` cycles between the library's source files (src/**/*.rs); exit 1 when there is one.

An edge A -> B means file A names an item of file B through a path that starts with `crate::`
or `super::` (in a `use` declaration or inline, e.g. `crate::kube::KubeError`). A path that
ends at a module's `mod.rs` (or `lib.rs`) and names something it re-exports (`pub use
child::Name`) is followed to the file that defines it. A module's own submodules are part of
it: a file naming its children (`plan::plan` in `deploy/mod.rs`) is not an edge, while a child
naming its parent (`super::UpOptions`) is. A file's unit tests (`#[cfg(test)] mod tests` at
its end) are left out, and so is `main.rs` (the binary, not the library).

Run: python3 scripts/check-use-cycles.py [SRC_DIR]   (scripts/test.sh runs it)
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(src: Path, f: Path):
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts == ["lib"]:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    """Drop the unit tests (`#[cfg(test)] mod tests`, at a file's end by this project's
    convention: tests may use anything), comments, string and char literals."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'r(#*)".*?"\1', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return text


def expand_use(tree: str):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        i = s.find("{")
        if i < 0:
            out.append(prefix + s)
            return
        head, body = s[:i], s[i + 1 : s.rfind("}")]
        depth, start = 0, 0
        for j, c in enumerate(body + ","):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                item = body[start:j]
                if item:
                    walk(prefix + head, item)
                start = j + 1

    walk("", tree)
    return [re.sub(r"\bas\w+$", "", p) for p in out]


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src")
    files = {}
    for f in sorted(src.rglob("*.rs")):
        if f.relative_to(src).as_posix() == "main.rs":
            continue
        files[module_of(src, f)] = f
    texts = {m: strip(f.read_text()) for m, f in files.items()}

    def absolute(mod, path):
        segs = path.split("::")
        if segs[0] == "crate":
            return tuple(segs[1:])
        base = list(mod)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        return tuple(base + segs)

    # Re-exports of each module file: name -> absolute path it names.
    reexports = {}
    for mod, text in texts.items():
        table = {}
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for p in expand_use(m.group(1)):
                segs = p.split("::")
                if segs[-1] in ("self", "*"):
                    continue
                if segs[0] in ("crate", "super", "self"):
                    target = absolute(mod, p)
                elif mod + (segs[0],) in files:
                    target = mod + tuple(segs)
                else:
                    continue
                table[segs[-1]] = target
        reexports[mod] = table

    def resolve(path, depth=0):
        """The file (module) an absolute path's item lives in."""
        for n in range(len(path), -1, -1):
            if path[:n] in files:
                mod, rest = path[:n], path[n:]
                if rest and depth < 8 and rest[0] in reexports.get(mod, {}):
                    return resolve(reexports[mod][rest[0]] + rest[1:], depth + 1)
                return mod
        return None

    edges = {m: set() for m in files}
    for mod, text in texts.items():
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths += [p for p in expand_use(m.group(1)) if re.match(r"(crate|super|self)::", p)]
        paths += re.findall(rf"\b(?:crate|super)(?:::{IDENT})+", text)
        for p in paths:
            target = resolve(absolute(mod, p))
            if target is None or target == mod or target[: len(mod)] == mod:
                continue  # itself, or one of its own submodules
            edges[mod].add(target)

    # Strongly connected components (Tarjan): every one with more than one file is a cycle.
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(files):
        if v not in index:
            strong(v)

    name = lambda m: files[m].relative_to(src).as_posix()
    for comp in sccs:
        members = set(comp)
        print("use cycle between: " + ", ".join(name(m) for m in comp))
        for m in comp:
            for t in sorted(edges[m] & members):
                print(f"    {name(m)} -> {name(t)}")
    if sccs:
        print(f"{len(sccs)} use cycle(s) between source files")
        return 1
    print(f"no use cycles between the {len(files)} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
