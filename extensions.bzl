"""Module extension for Bzlmod consumers (MODULE.bazel): the system libraries that the
Bazel Central Registry does not have, declared by the same rule and with the same targets
as repositories.bzl declares them for WORKSPACE users. Untested here: Debian's Bazel 4.2.3
has no Bzlmod."""

load("//:repositories.bzl", "LIBURCU_TARGETS", "UNICORN_TARGETS", "system_library_repository")

def _system_libraries_impl(_module_ctx):
    system_library_repository(name = "liburcu", package = "liburcu-dev", targets = LIBURCU_TARGETS)
    system_library_repository(name = "unicorn", package = "libunicorn-dev", targets = UNICORN_TARGETS)

system_libraries = module_extension(
    implementation = _system_libraries_impl,
    doc = "liburcu (benchmarks) and Unicorn (the mini VMM example), from the system.",
)
