/**
 * `comm` suite: the multi-process backends, MPI vs our TCP star, in one run, each as a real job (`mpirun -np
 * N` for mpi; N processes with torchrun's variables and a job token for tcp), on this host's loopback.
 *   bandwidth  all-reduce and reduce-scatter bus bandwidth (nccl-tests' definition, comm/busbw.ts) of host f32
 *              payloads at 2 and 4 ranks, 1…256 MB; the mpi backend as shipped (f32 widened to f64 for exact
 *              sums, sequence check on), with VIT_MPI_REDUCE=f32 (MPI reduces f32: half the bytes), and with
 *              VIT_MPI_CHECK=0 (no per-collective sequence check); each mpi row's peer is tcp. Plus the
 *              latency of an 8-byte all-reduce, where the sequence check's cost shows.
 *   dp         the tiny ViT's training step (@vit/trainer's trainStep with the trainer's strategy) per backend:
 *              data parallel at 1, 2 and 4 ranks, tensor parallel TP 2 (× DP 2 at 4 ranks); images/s of one
 *              replica's batch, the job's total, and the efficiency vs 1 rank.
 * Options: --set sizes=1,4,16,64,256 (MB) ranks=2,4 ops=allReduce,reduceScatter
 *          variants=mpi,mpi-f32,mpi-nocheck,tcp dp_ranks=1,2,4,2:2,4:2 preset=tiny batch=32 steps=3 parts=bandwidth,dp
 */
import { spawnSync } from "node:child_process";
import { mpiUnavailableReason } from "@vit/parallel";
import { VitError } from "@vit/tensor";
import { type BusOp, busBandwidth } from "../comm/busbw.js";
import { WORKER_ENV, job, records, workerEnv } from "../comm/jobs.js";
import type { BwRecord, DpRecord, LatencyRecord } from "../comm/worker.js";
import type { ExtraColumn } from "../report.js";
import { type BenchCase, type BenchContext, stats, unmeasuredCase } from "../types.js";

export { commWorker } from "../comm/worker.js";

/** True when this process is a rank of a comm job (main.ts then runs commWorker instead of the CLI). */
export const isCommWorker = () => process.env[WORKER_ENV] === "1";

/** The table's extra columns for this suite's figures. */
export const COMM_COLUMNS: ExtraColumn[] = [
  { key: "median_ms", label: "ms (median)" },
  { key: "algbw_GBps", label: "algbw GB/s" },
  { key: "images_per_s_total", label: "images/s total" },
  { key: "scaling_efficiency", label: "efficiency vs 1 rank", format: (v) => v.toFixed(2) },
];

/** A backend as the bandwidth part runs it: the launcher, and the environment that sets it up. */
const VARIANTS: Record<string, { backend: "mpi" | "tcp"; env: Record<string, string>; label: string }> = {
  mpi: { backend: "mpi", env: {}, label: "mpi" },
  "mpi-f32": { backend: "mpi", env: { VIT_MPI_REDUCE: "f32" }, label: "mpi, VIT_MPI_REDUCE=f32" },
  "mpi-nocheck": { backend: "mpi", env: { VIT_MPI_CHECK: "0" }, label: "mpi, VIT_MPI_CHECK=0" },
  tcp: { backend: "tcp", env: {}, label: "tcp" },
};

const OP_NAME: Record<BusOp, string> = {
  allReduce: "all-reduce",
  reduceScatter: "reduce-scatter",
  allGather: "all-gather",
};

const list = (v: string | undefined, dflt: string) => (v || dflt).split(",").filter(Boolean);

function mpiMissing(): string | null {
  return (
    mpiUnavailableReason() ??
    (spawnSync("mpirun", ["--version"]).status === 0 ? null : "mpirun is not installed")
  );
}

async function bandwidthPart(ctx: BenchContext, missing: string | null): Promise<BenchCase[]> {
  const o = ctx.options ?? {};
  const sizes = list(o.sizes, ctx.quick ? "1,4" : "1,4,16,64,256").map(Number);
  const ops = list(o.ops, "allReduce,reduceScatter") as BusOp[];
  const variants = list(o.variants, "mpi,mpi-f32,mpi-nocheck,tcp");
  for (const v of variants)
    if (!VARIANTS[v])
      throw new VitError(`comm: unknown variant ${v}`, {
        hint: `--set variants= takes ${Object.keys(VARIANTS).join(", ")}`,
      });
  const repeats = ctx.quick ? 2 : 5;
  const cases: BenchCase[] = [];
  for (const n of list(o.ranks, "2,4").map(Number)) {
    const got = new Map<string, { bw?: BwRecord[]; lat?: LatencyRecord; error?: string }>();
    for (const v of variants) {
      const { backend, env, label } = VARIANTS[v]!;
      if (backend === "mpi" && missing) {
        got.set(v, { error: `skipped: ${missing}` });
        continue;
      }
      ctx.log(`comm bandwidth, ${n} ranks, ${label}: ${ops.join("+")} ${sizes.join(",")} MB`);
      try {
        const out = await job(
          backend,
          n,
          workerEnv({
            ...env,
            VIT_BENCH_COMM_MODE: "bw",
            VIT_BENCH_COMM_SIZES: sizes.join(","),
            VIT_BENCH_COMM_OPS: ops.join(","),
            VIT_BENCH_COMM_REPEATS: String(repeats),
          }),
        );
        got.set(v, { bw: records<BwRecord>(out, "COMM"), lat: records<LatencyRecord>(out, "LAT")[0] });
      } catch (e) {
        got.set(v, { error: (e as Error).message });
      }
    }
    const tcp = got.get("tcp");
    for (const op of ops) {
      for (const mb of sizes) {
        for (const v of variants) {
          const name = `${OP_NAME[op]} ${mb} MB f32, ${n} ranks, ${VARIANTS[v]!.label}`;
          const r = got.get(v)!;
          const rec = r.bw?.find((b) => b.op === op && Math.abs(b.bytes - mb * 1e6) < 64 * n);
          if (!rec) {
            const why = r.error ?? "no figure";
            cases.push(
              unmeasuredCase(
                { suite: "comm", name, unit: "GB/s" },
                why.startsWith("skipped: ") ? { skipped: why.slice(9) } : { failed: why },
              ),
            );
            continue;
          }
          const bus = rec.secs.map((s) => busBandwidth(op, rec.bytes, s, n));
          const c: BenchCase = {
            suite: "comm",
            name,
            unit: "GB/s",
            ...stats(bus),
            repeats: rec.secs.length,
            extra: {
              measure: "bus bandwidth",
              median_ms: Number((stats(rec.secs).median * 1000).toFixed(2)),
              algbw_GBps: Number((rec.bytes / stats(rec.secs).median / 1e9).toFixed(3)),
            },
          };
          const peer = v !== "tcp" ? tcp?.bw?.find((b) => b.op === op && b.bytes === rec.bytes) : undefined;
          if (peer) {
            const pm = stats(peer.secs.map((s) => busBandwidth(op, peer.bytes, s, n))).median;
            c.peer = { name: "tcp", median: pm };
            c.ratio = c.median / pm;
          }
          cases.push(c);
        }
      }
    }
    for (const v of variants) {
      const r = got.get(v)!;
      const name = `all-reduce 8 B latency, ${n} ranks, ${VARIANTS[v]!.label}`;
      if (!r.lat) {
        const why = r.error ?? "no figure";
        cases.push(
          unmeasuredCase(
            { suite: "comm", name, unit: "µs" },
            why.startsWith("skipped: ") ? { skipped: why.slice(9) } : { failed: why },
          ),
        );
        continue;
      }
      cases.push({
        suite: "comm",
        name,
        unit: "µs",
        ...stats(r.lat.us),
        repeats: r.lat.us.length,
        extra: { measure: "µs per call (lower is better)" },
      });
    }
  }
  return cases;
}

async function dpPart(ctx: BenchContext, missing: string | null): Promise<BenchCase[]> {
  const o = ctx.options ?? {};
  const preset = o.preset ?? "tiny";
  const batch = Number(o.batch ?? (ctx.quick ? 8 : 32));
  const cases: BenchCase[] = [];
  // Layouts "ranks" (data parallel) and "ranks:tp" (tensor parallel over tp ranks × data parallel).
  const layouts = list(o.dp_ranks, "1,2,4,2:2,4:2").map((l) => l.split(":").map(Number) as [number, number?]);
  for (const backend of ["mpi", "tcp"] as const) {
    let base: number | undefined;
    for (const [n, tp = 1] of layouts) {
      const layout = tp > 1 ? `TP ${tp} × DP ${n / tp}` : `${n} rank(s)`;
      const name = `${tp > 1 ? "tensor" : "data"} parallel ${preset} b${batch}/replica trainStep, ${layout}, ${backend}`;
      if (backend === "mpi" && missing) {
        cases.push(unmeasuredCase({ suite: "comm", name, unit: "images/s/replica" }, { skipped: missing }));
        continue;
      }
      ctx.log(`comm ${name}`);
      try {
        const out = await job(
          backend,
          n,
          workerEnv({
            VIT_BENCH_COMM_MODE: "dp",
            VIT_BENCH_COMM_TP: String(tp),
            VIT_BENCH_COMM_PRESET: preset,
            VIT_BENCH_COMM_BATCH: String(batch),
            VIT_BENCH_COMM_STEPS: o.steps ?? (ctx.quick ? "1" : "3"),
            VIT_BENCH_COMM_REPEATS: ctx.quick ? "1" : "3",
          }),
        );
        const rec = records<DpRecord>(out, "DP")[0];
        // A job that printed no figure failed; its output's tail becomes the row's `failed` reason below.
        if (!rec) throw new VitError(`no DP line in the job's output: ${out.trim().slice(-300)}`);
        const s = stats(rec.ips);
        if (n === 1) base = s.median;
        // Tensor-parallel ranks share one batch: the job's throughput counts each replica once.
        cases.push({
          suite: "comm",
          name,
          unit: "images/s/replica",
          ...s,
          repeats: rec.ips.length,
          extra: {
            images_per_s_total: Number(((s.median * n) / tp).toFixed(1)),
            ...(base !== undefined ? { scaling_efficiency: Number((s.median / base).toFixed(3)) } : {}),
          },
        });
      } catch (e) {
        cases.push(
          unmeasuredCase({ suite: "comm", name, unit: "images/s/replica" }, { failed: (e as Error).message }),
        );
      }
    }
  }
  return cases;
}

export async function commSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const parts = list(ctx.options?.parts, "bandwidth,dp");
  const missing = mpiMissing();
  const cases: BenchCase[] = [];
  if (parts.includes("bandwidth")) cases.push(...(await bandwidthPart(ctx, missing)));
  if (parts.includes("dp")) cases.push(...(await dpPart(ctx, missing)));
  return cases;
}
