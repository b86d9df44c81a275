#!/usr/bin/env bash
# Writes compile_commands.json at the repository's root for clangd, clang-tidy and editors:
# one entry per C++ file Bazel compiles in the given targets (default: every target),
# taken from `bazel aquery` and made clang-readable (gcc-only flags dropped).
#
#   .ci/compile_commands.sh                 # everything
#   .ci/compile_commands.sh //manager/...   # a part
#
# It builds the targets first, so the generated include folders the commands name exist.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("${@:-//...}")
query="mnemonic(\"CppCompile\", $(IFS=+; echo "${targets[*]}"))"

./bazelw build "${targets[@]}" >&2
exec_root="$(./bazelw info execution_root 2>/dev/null)"
./bazelw aquery "$query" --output=jsonproto 2>/dev/null |
  python3 -c '
import json, sys
exec_root = sys.argv[1]
# gcc accepts these, clang (and so clang-tidy and clangd) rejects them.
gcc_only = {"-fno-canonical-system-headers", "-Wunused-but-set-parameter",
            "-Wno-free-nonheap-object"}
# Bazel redacts the time macros for reproducible builds; clang warns about redefining them.
entries = {}
for action in json.load(sys.stdin).get("actions", []):
    args = action["arguments"]
    source = args[args.index("-c") + 1]
    command = ["clang++"] + [a for a in args[1:]
                             if a not in gcc_only and not a.startswith("-D__TIME")
                             and not a.startswith("-D__DATE__")]
    entries[source] = {"directory": exec_root, "file": source, "arguments": command}
json.dump(sorted(entries.values(), key=lambda e: e["file"]), sys.stdout, indent=1)
' "$exec_root" >compile_commands.json
echo "compile_commands.json: $(grep -c '"file"' compile_commands.json) files" >&2
