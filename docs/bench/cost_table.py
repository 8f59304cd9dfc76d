#!/usr/bin/env python3
"""Dollars per 1,000 mandalas, item by item: the arithmetic behind docs/COST.md.

The measured inputs come from two commands (see docs/COST.md):
  bytes per image and encode time:  cargo run --release -p mandala-render --example encode_options -- --quick
  worker CPU per job:               target/release/examples/throughput --jobs 100 --size 1024 --concurrency 2
Everything else is a list price (PRICES, with its source) or a stated
assumption (ASSUMED). Usage:

  docs/bench/cost_table.py --label "PNG (before)" --image-kib 469.5 --worker-cpu-ms 17.4 \
                           --label "WebP (now)"   --image-kib 155.9 --worker-cpu-ms 44.0

Pass --label/--image-kib/--worker-cpu-ms once per column. Prints a Markdown table.
"""

import argparse

GIB = 2**30

# List prices, USD, Tier 1 region (us-central1), read 2026-11-29 (see docs/COST.md for sources).
PRICES = {
    "run_vcpu_s": 0.000024,  # Cloud Run, CPU allocated only during requests, per vCPU-second
    "run_gib_s": 0.0000025,  # Cloud Run, same billing, per GiB-second
    "run_request": 0.40 / 1e6,  # Cloud Run, per request
    "egress_gib": 0.12,  # Premium Tier internet data transfer from North America, per GiB (1 GiB-1 TiB)
    "gcs_class_a": 0.005 / 1000,  # Cloud Storage Standard, object insert
    "gcs_class_b": 0.0004 / 1000,  # Cloud Storage Standard, object metadata get
    "gcs_gib_month": 0.020,  # Cloud Storage Standard, us-central1, per GiB-month
    "pubsub_tib": 40.0,  # Pub/Sub throughput, per TiB, 1,000 bytes minimum per publish/push request
    "logging_gib": 0.50,  # Cloud Logging ingestion beyond 50 GiB/project/month
    "firestore_read": 0.03 / 100000,  # Firestore, per document read (regional)
    "firestore_write": 0.09 / 100000,  # Firestore, per document write (regional)
}

# The deployment (terraform/variables.tf, terraform/locals.tf) and assumptions.
ASSUMED = {
    "worker_vcpu": 2,
    "worker_gib": 1.0,
    "worker_concurrency": 2,  # = worker_cpu: one render per vCPU
    "ingress_gib": 0.25,
    "ingress_cpu_us": 75,  # measured: 71-78 us per /mandala with Pub/Sub publish (docs/BENCHMARKS.md, Ingress)
    "retention_days": 30,  # render_retention_days
    "pubsub_requests": 2,  # one publish, one push delivery, each billed at least 1,000 bytes
    "upload_overhead_bytes": 2048,  # multipart boundaries, payload_json, headers
    "network_wait_ms": 250,  # GCS check + create + Discord PATCH round trips, excluding the upload itself
    "upload_mbit_s": 200,  # worker -> Discord upload throughput
    "log_bytes": 4096,  # Cloud Run request logs + our job lines, ingress and worker
    "ledger_reads": 3,  # the queue ledger: admit, start, end (docs/DEPLOY.md, "Cost knobs")
    "ledger_writes": 3,
}


def column(image_kib: float, worker_cpu_ms: float, idle: bool = False) -> dict:
    p, a = PRICES, ASSUMED
    # At full load every request slot is busy: a job holds one of
    # `concurrency` slots for its CPU time plus its network waits. One job
    # at a time (idle), it holds the whole instance.
    sharing = 1 if idle else a["worker_concurrency"]
    image = image_kib * 1024
    sent = image + a["upload_overhead_bytes"]
    instance_per_s = a["worker_vcpu"] * p["run_vcpu_s"] + a["worker_gib"] * p["run_gib_s"]
    upload_ms = sent * 8 / (a["upload_mbit_s"] * 1e6) * 1e3
    slot_s = (worker_cpu_ms + a["network_wait_ms"] + upload_ms) / 1e3
    return {
        "Internet egress to Discord (image + request)": sent / GIB * p["egress_gib"],
        "Cloud Storage: stored for the retention period": image / GIB * p["gcs_gib_month"] * a["retention_days"] / 30.4,
        "Cloud Storage: 1 object create (Class A)": p["gcs_class_a"],
        "Cloud Storage: 1 existence check (Class B)": p["gcs_class_b"],
        "Worker CPU + memory while rendering (measured CPU)": worker_cpu_ms / 1e3 * instance_per_s / sharing,
        "Worker instance time waiting on GCS and Discord (assumed)": (slot_s - worker_cpu_ms / 1e3) * instance_per_s / sharing,
        "Worker requests": p["run_request"],
        "Ingress CPU + memory (measured CPU)": a["ingress_cpu_us"] / 1e6 * (p["run_vcpu_s"] + a["ingress_gib"] * p["run_gib_s"]),
        "Ingress requests": p["run_request"],
        "Pub/Sub publish + push (1,000-byte minimum each)": a["pubsub_requests"] * 1000 / 2**40 * p["pubsub_tib"],
        "Firestore queue ledger (3 reads, 3 writes)": a["ledger_reads"] * p["firestore_read"] + a["ledger_writes"] * p["firestore_write"],
        "Cloud Logging (beyond the free 50 GiB/month)": a["log_bytes"] / GIB * p["logging_gib"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", action="append", required=True)
    ap.add_argument("--image-kib", action="append", type=float, required=True)
    ap.add_argument("--worker-cpu-ms", action="append", type=float, required=True)
    ap.add_argument("--network-wait-ms", type=float, default=ASSUMED["network_wait_ms"])
    ap.add_argument("--upload-mbit-s", type=float, default=ASSUMED["upload_mbit_s"])
    ap.add_argument("--idle", action="store_true", help="one job at a time: no sharing of the instance")
    args = ap.parse_args()
    ASSUMED["network_wait_ms"] = args.network_wait_ms
    ASSUMED["upload_mbit_s"] = args.upload_mbit_s
    cols = [column(k, c, args.idle) for k, c in zip(args.image_kib, args.worker_cpu_ms)]
    labels = args.label
    print("| item, $ per 1,000 images | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    def dollars(x: float) -> str:
        return "<0.00001" if x < 0.000005 else f"{x:.5f}"

    for item in cols[0]:
        print(f"| {item} | " + " | ".join(dollars(c[item] * 1000) for c in cols) + " |")
    totals = [sum(c.values()) * 1000 for c in cols]
    print("| **total** | " + " | ".join(f"**{t:.4f}**" for t in totals) + " |")
    if len(totals) > 1:
        print("| total vs the first column | " + " | ".join(f"{totals[0] / t:.2f}x lower" if t else "-" for t in totals) + " |")


if __name__ == "__main__":
    main()
