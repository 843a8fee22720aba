"""Reads a TensorBoard run directory with TensorBoard's own readers and prints what they saw as JSON.

Used by test/logging/*.test.ts to check rlts's event files against the real thing:
    python/.venv/bin/python scripts/read_tfevents.py <run dir>

Output: {"file_version", "scalars": {tag: [{step, wall_time, value}]},
         "histograms": {tag: [{step, min, max, num, sum, sum_squares, bucket_limit, bucket}]},
         "histogram_tensors": {tag: [{step, buckets: [[left, right, count], ...]}]},
         "texts": {tag: [{step, plugin_name, text}]}}
Non-finite floats are written as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers).
"""

import json
import math
import sys

from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.util import tensor_util


def number(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def main(path):
    # size_guidance 0 = keep every event (the default keeps a reservoir sample, e.g. 1 histogram per tag).
    keep_all = {kind: 0 for kind in event_accumulator.DEFAULT_SIZE_GUIDANCE}
    acc = event_accumulator.EventAccumulator(path, size_guidance=keep_all)
    acc.Reload()
    tags = acc.Tags()
    out = {"file_version": acc.file_version, "scalars": {}, "histograms": {}, "histogram_tensors": {}, "texts": {}}

    for tag in tags["scalars"]:
        out["scalars"][tag] = [
            {"step": e.step, "wall_time": e.wall_time, "value": number(e.value)} for e in acc.Scalars(tag)
        ]
    for tag in tags["histograms"]:
        out["histograms"][tag] = [
            {
                "step": e.step,
                "min": e.histogram_value.min,
                "max": e.histogram_value.max,
                "num": e.histogram_value.num,
                "sum": e.histogram_value.sum,
                "sum_squares": e.histogram_value.sum_squares,
                "bucket_limit": [number(x) for x in e.histogram_value.bucket_limit],
                "bucket": list(e.histogram_value.bucket),
            }
            for e in acc.Histograms(tag)
        ]
    for tag in tags["tensors"]:
        plugin_name = acc.SummaryMetadata(tag).plugin_data.plugin_name
        out["texts"][tag] = [
            {
                "step": e.step,
                "plugin_name": plugin_name,
                "text": tensor_util.make_ndarray(e.tensor_proto).item().decode("utf-8"),
            }
            for e in acc.Tensors(tag)
        ]

    # The TensorBoard server's accumulator migrates histograms to [left, right, count] tensors
    # (data_compat.py); what the Histograms dashboard draws comes from here.
    server = plugin_event_accumulator.EventAccumulator(path, size_guidance=keep_all)
    server.Reload()
    for tag, metadata in server.AllSummaryMetadata().items():
        if metadata.plugin_data.plugin_name == "histograms":
            out["histogram_tensors"][tag] = [
                {"step": e.step, "buckets": tensor_util.make_ndarray(e.tensor_proto).tolist()}
                for e in server.Tensors(tag)
            ]

    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_tfevents.py <run dir or event file>")
    main(sys.argv[1])
