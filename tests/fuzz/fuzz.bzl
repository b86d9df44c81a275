"""dbs_fuzz_target: a fuzz target as a corpus-replaying test and as a libFuzzer binary."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def dbs_fuzz_target(name, deps):
    cc_library(
        name = name + "_fuzz_lib",
        testonly = True,
        srcs = [name + "_fuzz.cc"],
        deps = deps + [":fuzz_input"],
        alwayslink = True,
    )
    cc_test(
        name = name + "_fuzz_test",
        size = "medium",
        args = ["tests/fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
        deps = [
            name + "_fuzz_lib",
            ":corpus_main",
        ],
    )
    cc_binary(
        name = name + "_fuzzer",
        testonly = True,
        tags = ["manual"],  # needs --config=fuzz (libFuzzer supplies main)
        deps = [name + "_fuzz_lib"],
    )
