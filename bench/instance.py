"""The Dagster instance's cost: SQLite (embedded) against PostgreSQL (server mode).

    python -m bench.instance [--partitions 514] [--assets 8] [--agencies N] [--work /tmp/ppa-bench]

EVENTS  a job of `--assets` assets that do nothing, partitioned like the agencies, run over all
        `--partitions` partitions in one ranged run (as `ppa run` does): only Dagster's own work
        and its event log are measured. Instances: Dagster's SQLite storage; the project's
        (pipeline/automation/event_log.py, a batch of asset events in one transaction); PostgreSQL without
        and with DAGSTER_EVENT_BATCH_SIZE (dagster-postgres writes a batch of materializations
        as one INSERT).
PIPELINE  with --agencies N: `ppa run` (a full refresh in a fresh process, empty warehouse) on
        the bench's synthetic national data set of N agencies, on the project's SQLite instance
        and on deploy/dagster.yaml (PostgreSQL) without and with batches.

PostgreSQL is a throwaway server started from the distribution's binaries (as tests/pg.py
starts it, but with fsync on, as a real server runs), on a unix socket.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from bench.common import REPO, RunDir, ppa_command, python_env, run_measured
from bench.generate import DEFAULT_WORK, Params, ensure_dataset, link_raw

sys.path.insert(0, str(REPO / "tests"))
from pg import PgServer, pg_bin  # noqa: E402  (the tests' server, shared with them)

PLAIN_SQLITE = "telemetry:\n  enabled: false\n"
DAGSTER_POSTGRES = "telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def synthetic_job(partitions: int, assets: int) -> dg.JobDefinition:
    keys = dg.StaticPartitionsDefinition([f"a{i:04d}" for i in range(partitions)])
    specs = [dg.AssetSpec(dg.AssetKey(["s", f"t{i}"])) for i in range(assets)]

    @dg.multi_asset(specs=specs, partitions_def=keys, backfill_policy=dg.BackfillPolicy.single_run())
    def tables(context):
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows": len(context.partition_keys)})

    return dg.Definitions(assets=[tables], jobs=[dg.define_asset_job("j", selection=[tables])]).resolve_job_def("j")


def time_events(home: Path, yaml_text: str, job: dg.JobDefinition, partitions: int) -> dict:
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml_text)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)  # the project's storages set it
    with dg.DagsterInstance.from_config(str(home)) as instance:
        start = time.perf_counter()
        result = job.execute_in_process(instance=instance, run_config=QUIET, tags={
            "dagster/asset_partition_range_start": "a0000",
            "dagster/asset_partition_range_end": f"a{partitions - 1:04d}"})
        seconds = time.perf_counter() - start
        assert result.success
        records = instance.get_records_for_run(result.run_id, limit=1_000_000).records
        storage = type(instance.event_log_storage).__name__
    os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    # run creation records one planned event per asset and partition, before the run starts
    started = next(r.event_log_entry.timestamp for r in records
                   if r.event_log_entry.dagster_event_type == dg.DagsterEventType.RUN_START)
    return {"storage": storage, "seconds": round(seconds, 2), "events": len(records),
            "planning": round(started - records[0].event_log_entry.timestamp, 2)}


def deploy_yaml() -> str:
    return (REPO / "deploy" / "dagster.yaml").read_text()


INSTANCES = {  # name: dagster.yaml
    "sqlite (Dagster's)": lambda: PLAIN_SQLITE,
    "sqlite (project's batched)": lambda: (REPO / "dagster_home" / "dagster.yaml").read_text(),
    "postgres (Dagster's)": lambda: DAGSTER_POSTGRES,
    "postgres (deploy/)": deploy_yaml,
    "postgres (deploy/) + synchronous_commit off": deploy_yaml,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--partitions", type=int, default=514)
    ap.add_argument("--assets", type=int, default=8, help="assets per partition (the pipeline has 8 partitioned)")
    ap.add_argument("--agencies", type=int, default=0, help="also `ppa run` on N synthetic agencies")
    ap.add_argument("--years", type=int, default=7)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--only", default=",".join(INSTANCES), help="the instances to measure, by name, comma-separated")
    args = ap.parse_args(argv)
    bindir = pg_bin()
    if bindir is None:
        print("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (make server-deps installs them)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ppa-bench-instance-"))
    server = PgServer.started(bindir, fsync=True)
    try:
        job = synthetic_job(args.partitions, args.assets)
        print(f"EVENTS: {args.partitions} partitions x {args.assets} assets, one ranged run")
        for name, yaml_text in INSTANCES.items():
            if name not in args.only.split(","):
                continue
            if "postgres" in name:
                os.environ["DAGSTER_PG_URL"] = server.url(server.create_database(synchronous_commit="off" not in name))
            row = time_events(tmp / name, yaml_text(), job, args.partitions)
            print(f"  {name:44} {row['storage']:30} {row['events']:5} events {row['seconds']:7.2f} s "
                  f"(of which run creation {row['planning']:.2f} s)", flush=True)
        if args.agencies:
            pipeline_runs(args, server)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def pipeline_runs(args: argparse.Namespace, server: PgServer) -> None:
    dataset = ensure_dataset(args.work, args.agencies, Params(years=args.years))
    print(f"PIPELINE: `ppa run`, full refresh of {args.agencies} agencies ({dataset['files']} files)")
    run = RunDir(args.work / "runs" / "instance", Path(dataset["registry"]))
    link_raw(dataset, run.raw)
    for i, (name, yaml_text) in enumerate(INSTANCES.items()):
        if name not in args.only.split(","):
            continue
        run.reset_state()
        (run.dagster_home / "dagster.yaml").write_text(yaml_text())
        env = python_env(args.work, run.env())
        env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
        if "postgres" in name:
            env["DAGSTER_PG_URL"] = server.url(server.create_database(synchronous_commit="off" not in name))
        measured = run_measured([*ppa_command(), "run"], env, args.work / "logs" / f"instance-{i}.log")
        print(f"  {name:44} {measured.wall_s:7.1f} s  CPU {measured.cpu_s:6.1f} s  exit {measured.rc}  "
              f"(other processes used {measured.others_cores:.2f} cores meanwhile)")


if __name__ == "__main__":
    sys.exit(main())
