/**
 * Multi-process backend over TCP (node:net), a star through rank 0.
 *
 * Rendezvous: rank 0 listens on MASTER_ADDR:MASTER_PORT; every other rank connects (retrying until rank
 * 0 is up), says hello with its rank and world size, and waits for "ready", which rank 0 sends once all
 * have joined. Collectives: each rank sends its contribution to rank 0, which combines them in rank order
 * (host-collectives.ts) and sends each rank its result. A star moves 2·(n−1) buffers through one link per
 * collective where a ring moves 2·(n−1)/n per link, but it is simple, its reductions are deterministic
 * and identical on every rank, and on the loopback or a few hosts it is not the bottleneck: the host
 * staging is.
 *
 * Failure is never a hang: a peer whose connection closes without saying goodbye, a collective that
 * does not complete within `timeoutMs`, or ranks that disagree on a collective make rank 0 send an error
 * naming the rank at fault to every peer and reject its own pending collectives; a peer that loses rank 0
 * rejects likewise.
 */
import { type Server, type Socket, createConnection, createServer } from "node:net";
import { CollectiveError, CollectiveMismatchError, CollectiveTimeoutError, ParallelConfigError } from "../errors.js";
import { type CollectiveDesc, combine, describeCollective, sameCollective } from "../host-collectives.js";
import { HostStagedGroup } from "../process-group.js";
import { type Frame, FrameReader, writeFrame } from "./wire.js";

export interface TcpOptions {
  rank: number;
  worldSize: number;
  /** Address rank 0 listens on and the others connect to (MASTER_ADDR). */
  masterAddr: string;
  /** MASTER_PORT. */
  masterPort: number;
  /** Longest a collective may take once this rank has entered it (default 300 s). */
  timeoutMs?: number;
  /** Longest the rendezvous may take, including waiting for rank 0 to come up (default 60 s). */
  connectTimeoutMs?: number;
}

interface Transport {
  exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

interface Waiter {
  resolve: (u: Uint8Array) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  desc: CollectiveDesc;
}

type Failure = { message: string; failedRank?: number; timeout?: boolean; mismatch?: boolean };

function toError(rank: number, f: Failure): CollectiveError {
  const msg = `rank ${rank}: ${f.message}`;
  return f.timeout
    ? new CollectiveTimeoutError(msg, rank, f.failedRank)
    : new CollectiveError(msg, rank, f.failedRank);
}

const endpoint = (o: TcpOptions) => `${o.masterAddr}:${o.masterPort}`;

/**
 * Extra time a spoke waits beyond a timeout before giving up on its own: rank 0 sees every rank and can
 * name the one at fault, so its verdict should arrive first.
 */
const grace = (ms: number) => Math.min(10_000, Math.max(1000, ms * 0.1));

// ---------------------------------------------------------------------------------------------------
// Rank 0: the hub of the star.

interface Peer {
  rank: number;
  sock: Socket;
  inbox: Map<number, Frame>;
  left: boolean;
}

class Hub implements Transport {
  private peers: Peer[] = [];
  private local = new Map<number, Waiter & { payload: Uint8Array }>();
  private failure: Failure | null = null;
  private closing = false;

  private constructor(
    private readonly o: TcpOptions,
    private readonly timeoutMs: number,
  ) {}

  static async start(o: TcpOptions, timeoutMs: number, connectTimeoutMs: number): Promise<Hub> {
    const hub = new Hub(o, timeoutMs);
    await hub.rendezvous(connectTimeoutMs);
    return hub;
  }

  private rendezvous(connectTimeoutMs: number): Promise<void> {
    const o = this.o;
    const joined = new Map<number, Peer>();
    return new Promise<void>((resolve, reject) => {
      let server: Server | null = null;
      /** Every accepted connection, to close those that never said hello. */
      const sockets = new Set<Socket>();
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        server?.close();
        for (const p of joined.values()) {
          writeFrame(p.sock, {
            t: "error",
            message: e.message,
            failedRank: (e as CollectiveError).failedRank ?? 0,
          });
          p.sock.end();
        }
        for (const s of sockets) if (![...joined.values()].some((p) => p.sock === s)) s.destroy();
        reject(e);
      };
      const timer = setTimeout(() => {
        const missing = Array.from({ length: o.worldSize - 1 }, (_, i) => i + 1).filter(
          (r) => !joined.has(r),
        );
        fail(
          new CollectiveTimeoutError(
            `rank 0: the rendezvous at ${endpoint(o)} timed out after ${connectTimeoutMs} ms: rank(s) ${missing.join(", ")} ` +
              `did not join (${joined.size + 1} of ${o.worldSize} present). Check WORLD_SIZE and that every rank was launched ` +
              "with the same MASTER_ADDR/MASTER_PORT.",
            0,
            missing[0],
          ),
        );
      }, connectTimeoutMs);
      server = createServer((sock) => {
        sockets.add(sock);
        sock.setNoDelay(true);
        const reader = new FrameReader();
        let peer: Peer | null = null;
        sock.on("data", (chunk: Buffer) => {
          let frames: Frame[];
          try {
            frames = reader.push(chunk);
          } catch (e) {
            sock.destroy();
            if (!settled)
              fail(
                new CollectiveError(
                  `rank 0: a peer sent a malformed frame during the rendezvous: ${(e as Error).message}`,
                  0,
                ),
              );
            else
              this.fatal({
                message: `rank ${peer?.rank ?? "?"} sent a malformed frame`,
                ...(peer ? { failedRank: peer.rank } : {}),
              });
            return;
          }
          for (const f of frames) {
            if (!peer) {
              const h = f.header;
              if (h.t !== "hello") continue;
              if (h.world !== o.worldSize) {
                fail(
                  new CollectiveError(
                    `rank 0: rank ${h.rank} was launched with WORLD_SIZE ${h.world}, rank 0 with ${o.worldSize}.`,
                    0,
                    h.rank,
                  ),
                );
                return;
              }
              if (!(Number.isInteger(h.rank) && h.rank >= 1 && h.rank < o.worldSize) || joined.has(h.rank)) {
                fail(
                  new CollectiveError(
                    `rank 0: a process joined as rank ${h.rank}, which is ${joined.has(h.rank) ? "taken" : "outside 1.." + (o.worldSize - 1)}. ` +
                      "Every rank needs a distinct RANK in [0, WORLD_SIZE).",
                    0,
                    h.rank,
                  ),
                );
                return;
              }
              peer = { rank: h.rank, sock, inbox: new Map(), left: false };
              joined.set(h.rank, peer);
              if (joined.size === o.worldSize - 1 && !settled) {
                settled = true;
                clearTimeout(timer);
                server!.close();
                this.peers = Array.from({ length: o.worldSize - 1 }, (_, i) => joined.get(i + 1)!);
                for (const s of sockets) if (!this.peers.some((p) => p.sock === s)) s.destroy();
                for (const p of this.peers) writeFrame(p.sock, { t: "ready" });
                resolve();
              }
            } else {
              this.onFrame(peer, f);
            }
          }
        });
        const lost = (why: string) => {
          if (!peer) return;
          if (!settled) {
            fail(
              new CollectiveError(
                `rank 0: rank ${peer.rank} disconnected during the rendezvous (${why}).`,
                0,
                peer.rank,
              ),
            );
          } else if (!peer.left && !this.closing) {
            this.fatal({
              message: `rank ${peer.rank} disconnected (${why}); it crashed or was killed`,
              failedRank: peer.rank,
            });
          }
        };
        sock.on("error", (e: NodeJS.ErrnoException) => lost(e.code ?? e.message));
        sock.on("close", () => lost("connection closed"));
      });
      server.on("error", (e: NodeJS.ErrnoException) =>
        fail(
          new CollectiveError(
            `rank 0: cannot listen on ${endpoint(o)} (${e.code ?? e.message})` +
              (e.code === "EADDRINUSE" ? ": the port is taken; pick another MASTER_PORT." : "."),
            0,
          ),
        ),
      );
      server.listen(o.masterPort, o.masterAddr);
    });
  }

  private onFrame(peer: Peer, f: Frame): void {
    const h = f.header;
    if (h.t === "coll") {
      peer.inbox.set(h.seq, f);
      this.tryComplete(h.seq);
    } else if (h.t === "bye") {
      peer.left = true;
    } else if (h.t === "error") {
      this.fatal({
        message: `rank ${peer.rank} reported: ${h.message}`,
        failedRank: h.failedRank ?? peer.rank,
        ...(h.timeout ? { timeout: true } : {}),
      });
    }
  }

  exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(toError(0, this.failure));
    const gone = this.peers.find((p) => p.left);
    if (gone) {
      this.fatal({
        message: `${describeCollective(desc)} #${seq} needs rank ${gone.rank}, which has left the group`,
        failedRank: gone.rank,
      });
      return Promise.reject(toError(0, this.failure!));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        const missing = this.peers.filter((p) => !p.inbox.has(seq)).map((p) => p.rank);
        this.fatal({
          message: `${describeCollective(desc)} #${seq} timed out after ${this.timeoutMs} ms waiting for rank(s) ${missing.join(", ")}`,
          ...(missing.length ? { failedRank: missing[0]! } : {}),
          timeout: true,
        });
      }, this.timeoutMs);
      this.local.set(seq, { resolve, reject, timer, desc, payload });
      this.tryComplete(seq);
    });
  }

  private tryComplete(seq: number): void {
    const mine = this.local.get(seq);
    if (!mine || this.failure) return;
    if (!this.peers.every((p) => p.inbox.has(seq))) return;
    const frames = this.peers.map((p) => p.inbox.get(seq)!);
    for (const [i, f] of frames.entries()) {
      const d = (f.header as { desc: CollectiveDesc }).desc;
      if (!sameCollective(d, mine.desc)) {
        this.fatal({
          message:
            `collective #${seq} does not match across ranks: rank 0 called ${describeCollective(mine.desc)} but rank ${i + 1} ` +
            `called ${describeCollective(d)}. Every rank must issue the same collectives in the same order`,
          failedRank: i + 1,
          mismatch: true,
        });
        return;
      }
    }
    this.local.delete(seq);
    clearTimeout(mine.timer);
    for (const p of this.peers) p.inbox.delete(seq);
    let outs: Uint8Array[];
    try {
      outs = combine(mine.desc, [mine.payload, ...frames.map((f) => f.payload)]);
    } catch (e) {
      this.fatal({ message: `${describeCollective(mine.desc)} #${seq}: ${(e as Error).message}` });
      mine.reject(toError(0, this.failure!));
      return;
    }
    this.peers.forEach((p, i) => writeFrame(p.sock, { t: "result", seq }, outs[i + 1]));
    mine.resolve(outs[0]!);
  }

  /** Stops the job: tells every peer why and rejects every pending collective of this rank. */
  private fatal(f: Failure): void {
    if (this.failure) return;
    this.failure = f;
    for (const p of this.peers) {
      if (p.sock.destroyed || !p.sock.writable) continue;
      writeFrame(p.sock, {
        t: "error",
        message: f.message,
        ...(f.failedRank !== undefined ? { failedRank: f.failedRank } : {}),
        ...(f.timeout ? { timeout: true } : {}),
      });
    }
    for (const w of this.local.values()) {
      clearTimeout(w.timer);
      w.reject(
        f.mismatch ? new CollectiveMismatchError(`rank 0: ${f.message}`, 0, f.failedRank) : toError(0, f),
      );
    }
    this.local.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.fatal({ message: "rank 0 has left the group", failedRank: 0 });
    await Promise.all(
      this.peers.map(
        (p) =>
          new Promise<void>((res) => {
            if (p.sock.destroyed) return res();
            p.sock.once("close", () => res());
            writeFrame(p.sock, { t: "bye" });
            p.sock.end();
            setTimeout(() => {
              p.sock.destroy();
              res();
            }, 1000).unref();
          }),
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Ranks 1..n-1: a spoke of the star.

class Spoke implements Transport {
  private waiters = new Map<number, Waiter>();
  private failure: Failure | null = null;
  private closing = false;

  private constructor(
    private readonly o: TcpOptions,
    private readonly sock: Socket,
    private readonly reader: FrameReader,
    private readonly timeoutMs: number,
  ) {
    sock.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        this.fail({ message: `rank 0 sent a malformed frame (${(e as Error).message})`, failedRank: 0 });
        sock.destroy();
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    const lost = (why: string) => {
      if (!this.closing)
        this.fail({
          message: `lost the connection to rank 0, the hub (${why}); rank 0 crashed or was killed`,
          failedRank: 0,
        });
    };
    sock.on("error", (e: NodeJS.ErrnoException) => lost(e.code ?? e.message));
    sock.on("close", () => lost("connection closed"));
  }

  static async join(o: TcpOptions, timeoutMs: number, connectTimeoutMs: number): Promise<Spoke> {
    const deadline = Date.now() + connectTimeoutMs;
    let lastError = "";
    while (Date.now() < deadline) {
      const attempt = await Spoke.tryJoin(o, deadline);
      if ("sock" in attempt) return new Spoke(o, attempt.sock, attempt.reader, timeoutMs);
      if (attempt.fatal) throw attempt.fatal;
      lastError = attempt.retry;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new CollectiveTimeoutError(
      `rank ${o.rank}: could not join the rendezvous at ${endpoint(o)} within ${connectTimeoutMs} ms (${lastError}). ` +
        "Is rank 0 running, with the same MASTER_ADDR/MASTER_PORT?",
      o.rank,
      0,
    );
  }

  /** One connection attempt: a joined socket, a retryable failure (rank 0 not up yet), or a fatal one. */
  private static tryJoin(
    o: TcpOptions,
    deadline: number,
  ): Promise<{ sock: Socket; reader: FrameReader } | { retry: string; fatal?: CollectiveError }> {
    return new Promise((resolve) => {
      const sock = createConnection({ host: o.masterAddr, port: o.masterPort });
      sock.setNoDelay(true);
      const reader = new FrameReader();
      let connected = false;
      let done = false;
      const finish = (
        r: { sock: Socket; reader: FrameReader } | { retry: string; fatal?: CollectiveError },
      ) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.removeAllListeners("data");
        sock.removeAllListeners("error");
        sock.removeAllListeners("close");
        if (!("sock" in r)) sock.destroy();
        resolve(r);
      };
      const timer = setTimeout(
        () =>
          finish({
            retry: "timeout",
            fatal: new CollectiveTimeoutError(
              `rank ${o.rank}: connected to rank 0 at ${endpoint(o)}, but the rendezvous did not complete in time ` +
                "(other ranks did not join; see rank 0's error).",
              o.rank,
              0,
            ),
          }),
        Math.max(1, deadline - Date.now()) + grace(o.connectTimeoutMs ?? 60_000),
      );
      sock.on("connect", () => {
        connected = true;
        writeFrame(sock, { t: "hello", rank: o.rank, world: o.worldSize });
      });
      sock.on("data", (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.header.t === "ready") return finish({ sock, reader });
          if (f.header.t === "error") {
            return finish({
              retry: "error",
              fatal: new CollectiveError(
                `rank ${o.rank}: the rendezvous failed: ${f.header.message}`,
                o.rank,
                f.header.failedRank,
              ),
            });
          }
        }
      });
      sock.on("error", (e: NodeJS.ErrnoException) => {
        if (!connected) return finish({ retry: e.code ?? e.message });
        finish({
          retry: "",
          fatal: new CollectiveError(
            `rank ${o.rank}: connection to rank 0 failed during the rendezvous (${e.code ?? e.message}).`,
            o.rank,
            0,
          ),
        });
      });
      sock.on("close", () => {
        if (!connected) return finish({ retry: "connection closed" });
        finish({
          retry: "",
          fatal: new CollectiveError(
            `rank ${o.rank}: rank 0 closed the connection during the rendezvous.`,
            o.rank,
            0,
          ),
        });
      });
    });
  }

  private onFrame(f: Frame): void {
    const h = f.header;
    if (h.t === "result") {
      const w = this.waiters.get(h.seq);
      if (!w) return;
      this.waiters.delete(h.seq);
      clearTimeout(w.timer);
      w.resolve(f.payload);
    } else if (h.t === "error") {
      this.fail({
        message: h.message,
        ...(h.failedRank !== undefined ? { failedRank: h.failedRank } : {}),
        ...(h.timeout ? { timeout: true } : {}),
      });
    } else if (h.t === "bye") {
      this.fail({ message: "rank 0 has left the group", failedRank: 0 });
    }
  }

  exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(toError(this.o.rank, this.failure));
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        const f: Failure = {
          message: `${describeCollective(desc)} #${seq} timed out after ${this.timeoutMs + grace(this.timeoutMs)} ms waiting for rank 0 (the hub) to complete it`,
          failedRank: 0,
          timeout: true,
        };
        // Tell rank 0, so it stops the job for everyone with this rank's reason.
        if (!this.sock.destroyed)
          writeFrame(this.sock, { t: "error", message: f.message, timeout: true, failedRank: 0 });
        this.fail(f);
      }, this.timeoutMs + grace(this.timeoutMs));
      this.waiters.set(seq, { resolve, reject, timer, desc });
      writeFrame(this.sock, { t: "coll", seq, desc }, payload);
    });
  }

  private fail(f: Failure): void {
    if (this.failure) return;
    this.failure = f;
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(toError(this.o.rank, f));
    }
    this.waiters.clear();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.fail({ message: `this rank (${this.o.rank}) has left the group`, failedRank: this.o.rank });
    if (this.sock.destroyed) return;
    await new Promise<void>((res) => {
      this.sock.once("close", () => res());
      writeFrame(this.sock, { t: "bye" });
      this.sock.end();
      setTimeout(() => {
        this.sock.destroy();
        res();
      }, 1000).unref();
    });
  }
}

/** World size 1: no network; collectives are identities (through the same combine). */
class Alone implements Transport {
  async exchange(_seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    return combine(desc, [payload])[0]!;
  }
  async close(): Promise<void> {}
}

export class TcpProcessGroup extends HostStagedGroup {
  readonly backend = "tcp" as const;
  readonly rank: number;
  readonly worldSize: number;

  private constructor(
    o: TcpOptions,
    private readonly transport: Transport,
  ) {
    super();
    this.rank = o.rank;
    this.worldSize = o.worldSize;
  }

  /** Joins the group: rank 0 listens and waits for everyone; the others connect. */
  static async connect(o: TcpOptions): Promise<TcpProcessGroup> {
    if (!(Number.isInteger(o.worldSize) && o.worldSize >= 1))
      throw new ParallelConfigError(`TcpProcessGroup: WORLD_SIZE ${o.worldSize} must be a positive integer`);
    if (!(Number.isInteger(o.rank) && o.rank >= 0 && o.rank < o.worldSize)) {
      throw new ParallelConfigError(`TcpProcessGroup: RANK ${o.rank} must be an integer in [0, ${o.worldSize})`);
    }
    if (!(Number.isInteger(o.masterPort) && o.masterPort >= 0 && o.masterPort < 65536)) {
      throw new ParallelConfigError(`TcpProcessGroup: MASTER_PORT ${o.masterPort} is not a TCP port (0-65535)`);
    }
    const timeout = o.timeoutMs ?? 300_000;
    const connectTimeout = o.connectTimeoutMs ?? 60_000;
    const transport: Transport =
      o.worldSize === 1
        ? new Alone()
        : o.rank === 0
          ? await Hub.start(o, timeout, connectTimeout)
          : await Spoke.join(o, timeout, connectTimeout);
    return new TcpProcessGroup(o, transport);
  }

  protected exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    return this.transport.exchange(seq, desc, payload);
  }

  /** Says goodbye and closes the connections (after this, peers' collectives that need this rank reject). */
  destroy(): Promise<void> {
    return this.transport.close();
  }
}
