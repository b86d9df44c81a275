"""Draws the dispatch benchmark's results: ns per dispatch by design for each case.

    ./bazelw run -c opt //benchmarks:dispatch -- --benchmark_out=/tmp/dispatch.json
    ./bazelw run //benchmarks:plot -- --input=/tmp/dispatch.json --output=/tmp/dispatch.png

Reads Google Benchmark's JSON (the median of the repetitions where there are several),
draws one panel per address space and device count, a group of bars per case (address
pattern, threads, hot-plugging writer), one bar per design, on a log scale, with the
unprotected floor of each case drawn across its group. Lower is better.
"""

import argparse
import collections
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

# Benchmark names: dispatch/<space>/<devices>/<pattern>/<writer>/<design>/threads:<n>
DESIGNS = [
    ("floor", "btree, no protection (floor)"),
    ("io_manager", "IoManager (this project)"),
    ("io_manager_stats", "IoManager + statistics"),
    ("io_bus", "IoBus + DeviceIo call"),
    ("rwlock_map", "shared_mutex + std::map (RwLock)"),
    ("arcswap", "atomic<shared_ptr> (ArcSwap)"),
    ("mutex_btree", "mutex + btree"),
    ("urcu_qsbr", "liburcu QSBR + btree"),
]


def load(path):
    """{(space, devices): {case label: {design: ns}}} from a Google Benchmark JSON file."""
    with open(path) as f:
        report = json.load(f)
    has_medians = any(b.get("aggregate_name") == "median" for b in report["benchmarks"])
    panels = collections.OrderedDict()
    for b in report["benchmarks"]:
        if has_medians and b.get("aggregate_name") != "median":
            continue
        if not has_medians and b.get("run_type") == "aggregate":
            continue
        parts = b["run_name"].split("/")
        if parts[0] != "dispatch" or len(parts) != 7:
            continue
        _, space, devices, pattern, writer, design, threads = parts
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6}[b.get("time_unit", "ns")]
        case = "%s %s%s" % ("rand" if pattern == "random" else "rep", threads.split(":")[1] + "T",
                            " +hp" if writer == "hotplug" else "")
        panels.setdefault((space, int(devices)), collections.OrderedDict()).setdefault(
            case, {})[design] = b["cpu_time"] * scale
    return panels


def draw(panels, output):
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.2 * len(panels)), squeeze=False)
    colors = plt.get_cmap("tab10")
    width = 0.8 / (len(DESIGNS) - 1)
    for ax, ((space, devices), cases) in zip(axes[:, 0], panels.items()):
        for i, (case, ns) in enumerate(cases.items()):
            floor = ns.get("floor") or cases.get(case.replace(" +hp", ""), {}).get("floor")
            for j, (key, _) in enumerate(DESIGNS[1:]):
                if key in ns:
                    ax.bar(i - 0.4 + width * (j + 0.5), ns[key], width, color=colors(j))
            if floor:
                ax.hlines(floor, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
        ax.set_yscale("log")
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(list(cases.keys()))
        ax.set_ylabel("ns per dispatch")
        ax.set_title("%s, %d devices" % (space, devices), loc="left")
        ax.grid(axis="y", which="both", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors(j)) for j in range(len(DESIGNS) - 1)]
    handles.append(plt.Line2D([0], [0], color="black", linestyle="dashed"))
    labels = [label for _, label in DESIGNS[1:]] + ["unprotected btree (the floor)"]
    fig.suptitle("VM-exit dispatch, per-thread CPU ns (log scale; lower is better; "
                 "+hp: a writer hot-plugs every 100 us)", y=0.995, fontsize=11)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.98), ncol=3,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(output, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="the JSON of --benchmark_out")
    parser.add_argument("--output", required=True, help="the PNG to write")
    args = parser.parse_args()
    panels = load(args.input)
    if not panels:
        sys.exit("plot: no dispatch/... benchmarks in %s" % args.input)
    draw(panels, args.output)
    print("plot: wrote %s (%d panels)" % (args.output, len(panels)))


if __name__ == "__main__":
    main()
