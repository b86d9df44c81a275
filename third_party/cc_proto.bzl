"""cc_proto: C++ code generated from one .proto file by @com_google_protobuf//:protoc.

Bazel 4.2.3's native cc_proto_library needs protobuf's own toolchain targets, which Debian's
package does not ship; this macro runs protoc in a genrule instead. It works in this
workspace and from a consumer's (where our files live under external/dbs_device), with
Debian's protoc or with protobuf built from source as @com_google_protobuf.

    cc_proto(name = "snapshot_proto", src = "internal/snapshot.proto")

defines the cc_library :snapshot_proto, whose header is the .proto's path with .pb.h
(`#include "manager/internal/snapshot.pb.h"`), and the filegroup :snapshot_proto_srcs
holding the .proto. A .proto that imports another lists that one's cc_proto in `deps`.
The .proto must use `option optimize_for = LITE_RUNTIME;`: the library links
protobuf-lite only.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_proto(name, src, deps = [], visibility = None):
    """A cc_library of the C++ code protoc generates from `src`.

    Args:
      name: the cc_library; `name + "_generate"` is the genrule running protoc.
      src: one .proto file of this package, with optimize_for = LITE_RUNTIME.
      deps: the cc_proto targets of the files `src` imports.
      visibility: of the cc_library and of the .proto's filegroup.
    """
    repo = native.repository_name()
    root = "." if repo == "@" else "external/" + repo[1:]
    package = native.package_name()
    stem = src[:-len(".proto")]
    outs = [stem + ".pb.h", stem + ".pb.cc"]
    native.filegroup(
        name = name + "_srcs",
        srcs = [src],
        visibility = visibility,
    )
    native.genrule(
        name = name + "_generate",
        srcs = [src] + [dep + "_srcs" for dep in deps],
        outs = outs,
        tools = ["@com_google_protobuf//:protoc"],
        cmd = ("$(execpath @com_google_protobuf//:protoc) --proto_path={root} " +
               "--cpp_out=$(GENDIR)/{gen_root} {root}/{package}/{src}").format(
            root = root,
            gen_root = "" if root == "." else root,
            package = package,
            src = src,
        ),
        visibility = ["//visibility:private"],
    )
    cc_library(
        name = name,
        srcs = [outs[1]],
        hdrs = [outs[0]],
        copts = ["-w"],
        deps = deps + ["@com_google_protobuf//:protobuf_lite"],
        visibility = visibility,
    )
