/**
 * In-process backend: several ranks (one Device each) in one Node process, each rank's work running in
 * its own async task. A collective is a rendezvous at the shared hub: each rank's contribution waits
 * there until every rank has arrived, then `combine` computes all results at once and every waiting
 * rank resumes. Nothing blocks the event loop, so a rank that is still computing gets to run while the
 * others wait; a rank that never arrives makes the others reject after `timeoutMs`, and a rank that
 * fails (see runRanks) makes them reject at once, naming it.
 */
import {
  CollectiveError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  ParallelConfigError,
} from "../errors.js";
import { type CollectiveDesc, combine, describeCollective, sameCollective } from "../host-collectives.js";
import { HostStagedGroup, type ProcessGroup } from "../process-group.js";

export interface InProcessOptions {
  /** How long a collective waits for the last rank before rejecting (default 120 s). */
  timeoutMs?: number;
}

interface Pending {
  desc: CollectiveDesc;
  first: number;
  payloads: Array<Uint8Array | undefined>;
  waiters: Array<{ resolve: (u: Uint8Array) => void; reject: (e: Error) => void } | undefined>;
  timer: ReturnType<typeof setTimeout>;
}

class Hub {
  private pending = new Map<number, Pending>();
  /** Set when a rank failed or left: every later collective rejects with this cause. */
  private failure: { rank: number; reason: string } | null = null;

  constructor(
    readonly worldSize: number,
    readonly timeoutMs: number,
  ) {}

  arrive(rank: number, seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    const what = `${describeCollective(desc)} #${seq}`;
    if (this.failure) {
      const f = this.failure;
      return Promise.reject(
        new CollectiveError(`rank ${rank}: ${what} cannot run: rank ${f.rank} ${f.reason}.`, rank, f.rank),
      );
    }
    let p = this.pending.get(seq);
    if (!p) {
      p = {
        desc,
        first: rank,
        // Dense arrays: every() and forEach() skip the holes of `new Array(n)`.
        payloads: Array.from({ length: this.worldSize }, () => undefined),
        waiters: Array.from({ length: this.worldSize }, () => undefined),
        timer: setTimeout(() => this.timeout(seq), this.timeoutMs),
      };
      this.pending.set(seq, p);
    } else if (!sameCollective(p.desc, desc)) {
      const err = (r: number) =>
        new CollectiveMismatchError(
          `rank ${r}: collective #${seq} does not match across ranks: rank ${p!.first} called ${describeCollective(p!.desc)} ` +
            `but rank ${rank} called ${describeCollective(desc)}. Every rank must issue the same collectives in the same order.`,
          r,
          rank,
        );
      this.settle(seq, (r) => err(r));
      return Promise.reject(err(rank));
    }
    if (p.payloads[rank]) {
      return Promise.reject(
        new CollectiveError(`rank ${rank}: ${what} was entered twice by rank ${rank}.`, rank, rank),
      );
    }
    p.payloads[rank] = payload;
    const pend = p;
    const done = new Promise<Uint8Array>((resolve, reject) => {
      pend.waiters[rank] = { resolve, reject };
    });
    if (pend.payloads.every((x) => x !== undefined)) {
      clearTimeout(pend.timer);
      this.pending.delete(seq);
      let outs: Uint8Array[];
      try {
        outs = combine(pend.desc, pend.payloads as Uint8Array[]);
      } catch (e) {
        pend.waiters.forEach((w) => w?.reject(e as Error));
        return done;
      }
      pend.waiters.forEach((w, r) => w?.resolve(outs[r]!));
    }
    return done;
  }

  private timeout(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    const missing = p.payloads.flatMap((x, r) => (x ? [] : [r]));
    const what = `${describeCollective(p.desc)} #${seq}`;
    this.settle(
      seq,
      (r) =>
        new CollectiveTimeoutError(
          `rank ${r}: ${what} timed out after ${this.timeoutMs} ms waiting for rank(s) ${missing.join(", ")}.`,
          r,
          missing[0],
        ),
    );
  }

  private settle(seq: number, err: (rank: number) => Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(seq);
    p.waiters.forEach((w, r) => w?.reject(err(r)));
  }

  /** Marks `rank` as failed (or gone): every waiting and later collective rejects, naming it. */
  fail(rank: number, reason: string): void {
    this.failure ??= { rank, reason };
    for (const seq of [...this.pending.keys()]) {
      const p = this.pending.get(seq)!;
      const what = `${describeCollective(p.desc)} #${seq}`;
      this.settle(
        seq,
        (r) => new CollectiveError(`rank ${r}: ${what} aborted: rank ${rank} ${reason}.`, r, rank),
      );
    }
  }
}

export class InProcessGroup extends HostStagedGroup {
  readonly backend = "in-process" as const;
  private destroyed = false;

  /** Use createInProcessGroups. */
  constructor(
    private readonly hub: Hub,
    readonly rank: number,
  ) {
    super();
  }

  get worldSize(): number {
    return this.hub.worldSize;
  }

  protected exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    if (this.destroyed) {
      return Promise.reject(
        new CollectiveError(`rank ${this.rank}: the group was destroyed on this rank.`, this.rank, this.rank),
      );
    }
    return this.hub.arrive(this.rank, seq, desc, payload);
  }

  /** Reports this rank as failed so the other ranks stop waiting for it. */
  abort(reason: string): void {
    this.hub.fail(this.rank, reason);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.hub.fail(this.rank, "left the group (destroy)");
  }
}

/** One group handle per rank, all joined to one hub. */
export function createInProcessGroups(worldSize: number, opts: InProcessOptions = {}): InProcessGroup[] {
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new ParallelConfigError(`createInProcessGroups: world size ${worldSize} must be a positive integer`);
  const hub = new Hub(worldSize, opts.timeoutMs ?? 120_000);
  return Array.from({ length: worldSize }, (_, r) => new InProcessGroup(hub, r));
}

/**
 * Runs `fn` once per rank, each in its own async task (SPMD in one process), and returns the results
 * in rank order. If a rank throws, an in-process hub is told at once, so the others reject instead of
 * waiting for a collective it will never join; the first rank's error (in time) is rethrown. (Other
 * groups, e.g. several TCP ranks over loopback in a test, rely on their timeouts.)
 */
export async function runRanks<G extends ProcessGroup, R>(
  groups: G[],
  fn: (group: G) => Promise<R>,
): Promise<R[]> {
  let first: unknown = null;
  const results = await Promise.allSettled(
    groups.map((g) =>
      Promise.resolve()
        .then(() => fn(g))
        .catch((e: unknown) => {
          first ??= e;
          if (g instanceof InProcessGroup) g.abort(`failed: ${(e as Error)?.message ?? String(e)}`);
          throw e;
        }),
    ),
  );
  if (first !== null) throw first;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}
