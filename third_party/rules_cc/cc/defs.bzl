"""Forwards the C++ rules to Bazel's native ones, under rules_cc's load path.

Every BUILD file of dbs_device loads cc_library, cc_binary and cc_test from
@rules_cc//cc:defs.bzl so that the same files work on Bazel 7/8, where the native rules are
reached through the real rules_cc. On Bazel 4.2.3 this stand-in takes its place.
"""

def cc_library(**kwargs):
    native.cc_library(**kwargs)

def cc_binary(**kwargs):
    native.cc_binary(**kwargs)

def cc_test(**kwargs):
    native.cc_test(**kwargs)

def cc_import(**kwargs):
    native.cc_import(**kwargs)

def cc_toolchain(**kwargs):
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    native.cc_toolchain_suite(**kwargs)

def objc_library(**kwargs):
    native.objc_library(**kwargs)
