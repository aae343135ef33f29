/**
 * Multi-process backend over TCP (node:net), a star through rank 0.
 *
 * Rendezvous: rank 0 listens on MASTER_ADDR:MASTER_PORT (that address only); every other rank connects
 * (retrying until rank 0 is up), answers rank 0's challenge with its rank, world size and a proof that it
 * holds the job token (handshake.ts), and waits for "ready", which rank 0 sends once all have joined. A
 * connection that cannot prove it, or sends anything but a well-formed hello, is refused and logged, and
 * the rendezvous goes on; rank 0 stops listening once every rank has joined. Collectives: each rank sends its contribution to rank 0, which combines them in rank order
 * (host-collectives.ts) and sends each rank its result. A star moves 2·(n−1) buffers through one link per
 * collective where a ring moves 2·(n−1)/n per link, but it is simple, its reductions are deterministic
 * and identical on every rank, and on the loopback or a few hosts it is not the bottleneck: the host
 * staging is.
 *
 * Failure is never a hang: a peer whose connection closes without saying goodbye, a collective that
 * does not complete within `timeoutMs`, or ranks that disagree on a collective make rank 0 send an error
 * naming the rank at fault to every peer and reject its own pending collectives; a peer that loses rank 0
 * rejects likewise. Frames are size-checked before they are buffered (wire.ts): before the handshake a
 * peer may send only a small header and no payload, after it every payload must have exactly the size its
 * collective needs (PayloadSizeError otherwise).
 */
import { type Server, type Socket, createConnection, createServer } from "node:net";
import {
  CollectiveError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  ParallelConfigError,
  PayloadSizeError,
} from "../errors.js";
import {
  type CollectiveDesc,
  combine,
  contributionBytes,
  describeCollective,
  resultBytes,
  sameCollective,
  validateCollective,
} from "../host-collectives.js";
import { HostStagedGroup } from "../process-group.js";
import {
  JOB_TOKEN_ENV,
  helloMac,
  isNonce,
  macMatches,
  newNonce,
  readyMac,
  requireToken,
} from "./handshake.js";
import { type Frame, FrameError, type FrameLimits, FrameReader, type Header, writeFrame } from "./wire.js";

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
  /**
   * The job's secret (VIT_JOB_TOKEN; `vit launch` makes one), the same on every rank; required when
   * worldSize > 1. Only processes that prove they hold it can join.
   */
  token?: string;
  /** Where rank 0 reports connections it refused (default: stderr). */
  log?: (message: string) => void;
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

type Failure = {
  message: string;
  failedRank?: number;
  timeout?: boolean;
  mismatch?: boolean;
  payloadSize?: boolean;
};

function toError(rank: number, f: Failure): CollectiveError {
  const msg = `rank ${rank}: ${f.message}`;
  return f.timeout
    ? new CollectiveTimeoutError(msg, rank, f.failedRank)
    : f.payloadSize
      ? new PayloadSizeError(msg, rank, f.failedRank)
      : new CollectiveError(msg, rank, f.failedRank);
}

/** What rank 0 accepts from a connection before it has proved it holds the token: a hello needs far less. */
const HANDSHAKE_MAX_HEADER = 4096;
/** After the handshake: collective descriptors with sub-group lists, and error messages. */
const MAX_HEADER = 1 << 20;

function noPayload(h: Header, bytes: number): void {
  if (bytes !== 0)
    throw new FrameError(`a "${h.t}" frame carries no payload, but this one declares ${bytes} bytes`);
}

const HANDSHAKE_LIMITS: FrameLimits = { maxHeader: HANDSHAKE_MAX_HEADER, checkPayload: noPayload };
/** A joining rank's limits until "ready": rank 0's rendezvous error may list many missing ranks. */
const JOINING_LIMITS: FrameLimits = { maxHeader: MAX_HEADER, checkPayload: noPayload };

const defaultLog = (message: string) => console.error(`vit: ${message}`);

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
  /** Rank 0's proof of the token for this peer, sent with "ready". */
  readyMac: string;
}

class Hub implements Transport {
  private peers: Peer[] = [];
  private local = new Map<number, Waiter & { payload: Uint8Array }>();
  private failure: Failure | null = null;
  private closing = false;

  private constructor(
    private readonly o: TcpOptions,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  static async start(
    o: TcpOptions,
    token: string,
    timeoutMs: number,
    connectTimeoutMs: number,
  ): Promise<Hub> {
    const hub = new Hub(o, token, timeoutMs);
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
      let refused = 0;
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
        const strangers = refused
          ? ` Rank 0 refused ${refused} connection(s) (logged above); every rank needs the same ${JOB_TOKEN_ENV}.`
          : "";
        fail(
          new CollectiveTimeoutError(
            `rank 0: the rendezvous at ${endpoint(o)} timed out after ${connectTimeoutMs} ms: rank(s) ${missing.join(", ")} ` +
              `did not join (${joined.size + 1} of ${o.worldSize} present). Check WORLD_SIZE and that every rank was launched ` +
              `with the same MASTER_ADDR/MASTER_PORT.${strangers}`,
            0,
            missing[0],
          ),
        );
      }, connectTimeoutMs);
      server = createServer((sock) => {
        sockets.add(sock);
        sock.setNoDelay(true);
        const from = `${sock.remoteAddress}:${sock.remotePort}`;
        const nonce = newNonce();
        const reader = new FrameReader(HANDSHAKE_LIMITS);
        let peer: Peer | null = null;
        let dropped = false;
        /** A connection that has not proved it belongs to the job: logged and closed; the job goes on. */
        const refuse = (why: string) => {
          dropped = true;
          refused++;
          sockets.delete(sock);
          this.log(`rank 0: refused a connection from ${from}: ${why}`);
          if (sock.writable)
            writeFrame(sock, { t: "error", message: `rank 0 refused this connection: ${why}` });
          sock.end();
          setTimeout(() => sock.destroy(), 1000).unref();
        };
        /** The first frame must be a hello that proves the token; returns why not, or null. */
        const unproven = (h: Header): string | null => {
          if (h.t !== "hello") return `it sent a "${h.t}" frame instead of a hello`;
          if (!Number.isInteger(h.rank) || !Number.isInteger(h.world) || !isNonce(h.nonce))
            return "its hello is malformed (an older vit, or not vit at all)";
          if (!macMatches(helloMac(this.token, nonce, h.rank, h.world, h.nonce), h.mac))
            return `it claimed rank ${h.rank} without proof of the job token (its ${JOB_TOKEN_ENV} differs, or it is not part of this job)`;
          return null;
        };
        writeFrame(sock, { t: "challenge", nonce });
        sock.on("data", (chunk: Buffer) => {
          if (dropped) return;
          try {
            for (const f of reader.push(chunk)) {
              if (peer) {
                this.onFrame(peer, f);
                continue;
              }
              const why = unproven(f.header);
              if (why) return refuse(why);
              const h = f.header as Extract<Header, { t: "hello" }>;
              // From here on the peer holds the token: a disagreement is a launch mistake that stops the job.
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
              if (!(h.rank >= 1 && h.rank < o.worldSize) || joined.has(h.rank)) {
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
              const p: Peer = {
                rank: h.rank,
                sock,
                inbox: new Map(),
                left: false,
                readyMac: readyMac(this.token, nonce, h.nonce, h.rank),
              };
              peer = p;
              reader.limits = {
                maxHeader: MAX_HEADER,
                checkPayload: (hh, n) => this.checkFromPeer(p, hh, n),
              };
              joined.set(h.rank, p);
              if (joined.size === o.worldSize - 1 && !settled) {
                settled = true;
                clearTimeout(timer);
                server!.close();
                this.peers = Array.from({ length: o.worldSize - 1 }, (_, i) => joined.get(i + 1)!);
                for (const s of sockets) if (!this.peers.some((q) => q.sock === s)) s.destroy();
                for (const q of this.peers) writeFrame(q.sock, { t: "ready", mac: q.readyMac });
                resolve();
              }
            }
          } catch (e) {
            const why = `${(e as Error).name}: ${(e as Error).message}`;
            if (!peer) return refuse(why);
            dropped = true;
            if (!settled)
              fail(
                new CollectiveError(
                  `rank 0: rank ${peer.rank} sent a malformed frame during the rendezvous (${why}).`,
                  0,
                  peer.rank,
                ),
              );
            else
              this.fatal({
                message: `rank ${peer.rank} sent a bad frame (${why})`,
                failedRank: peer.rank,
                ...(e instanceof PayloadSizeError ? { payloadSize: true } : {}),
              });
            // After the error frame that fail/fatal wrote has gone out.
            sock.end();
            setTimeout(() => sock.destroy(), 1000).unref();
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

  private log(message: string): void {
    (this.o.log ?? defaultLog)(message);
  }

  /** What a joined peer may send: a valid collective with exactly its contribution's bytes, or no payload. */
  private checkFromPeer(peer: Peer, h: Header, bytes: number): void {
    if (h.t !== "coll") {
      noPayload(h, bytes);
      return;
    }
    const d = h.desc;
    const bad =
      !Number.isSafeInteger(h.seq) ||
      typeof d !== "object" ||
      d === null ||
      !Number.isSafeInteger(d.bytes) ||
      d.bytes < 0
        ? "malformed"
        : validateCollective(d, this.o.worldSize);
    if (bad) throw new FrameError(`collective #${h.seq} is invalid: ${bad}`);
    const want = contributionBytes(d, peer.rank);
    if (bytes !== want) {
      throw new PayloadSizeError(
        `rank ${peer.rank} sent ${bytes} payload bytes for ${describeCollective(d)} #${h.seq}, which needs ${want} from it`,
        0,
        peer.rank,
      );
    }
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
    reader: FrameReader,
    private readonly timeoutMs: number,
  ) {
    reader.limits = { maxHeader: MAX_HEADER, checkPayload: (h, n) => this.checkFromHub(h, n) };
    sock.on("data", (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) this.onFrame(f);
      } catch (e) {
        const f: Failure = {
          message: `rank 0 sent a bad frame (${(e as Error).name}: ${(e as Error).message})`,
          failedRank: 0,
          ...(e instanceof PayloadSizeError ? { payloadSize: true } : {}),
        };
        if (sock.writable)
          writeFrame(sock, { t: "error", message: `rank ${o.rank}: ${f.message}`, failedRank: 0 });
        this.fail(f);
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      }
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

  /** A result must answer a collective this rank is waiting for, with exactly its result's bytes. */
  private checkFromHub(h: Header, bytes: number): void {
    if (h.t !== "result") {
      noPayload(h, bytes);
      return;
    }
    const w = this.waiters.get(h.seq);
    if (!w) throw new FrameError(`a result for collective #${h.seq}, which this rank is not waiting for`);
    const want = resultBytes(w.desc, this.o.worldSize);
    if (bytes !== want) {
      throw new PayloadSizeError(
        `${bytes} result bytes for ${describeCollective(w.desc)} #${h.seq}, which needs ${want}`,
        this.o.rank,
        0,
      );
    }
  }

  static async join(
    o: TcpOptions,
    token: string,
    timeoutMs: number,
    connectTimeoutMs: number,
  ): Promise<Spoke> {
    const deadline = Date.now() + connectTimeoutMs;
    let lastError = "";
    while (Date.now() < deadline) {
      const attempt = await Spoke.tryJoin(o, token, deadline);
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
    token: string,
    deadline: number,
  ): Promise<{ sock: Socket; reader: FrameReader } | { retry: string; fatal?: CollectiveError }> {
    return new Promise((resolve) => {
      const sock = createConnection({ host: o.masterAddr, port: o.masterPort });
      sock.setNoDelay(true);
      const reader = new FrameReader(JOINING_LIMITS);
      const nonce = newNonce();
      let hubNonce: string | null = null;
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
      const fatal = (message: string) =>
        finish({ retry: "", fatal: new CollectiveError(`rank ${o.rank}: ${message}`, o.rank, 0) });
      sock.on("connect", () => {
        connected = true;
      });
      sock.on("data", (chunk: Buffer) => {
        try {
          for (const f of reader.push(chunk)) {
            const h = f.header;
            if (h.t === "challenge" && hubNonce === null) {
              if (!isNonce(h.nonce))
                return fatal(`the process at ${endpoint(o)} sent a malformed challenge.`);
              hubNonce = h.nonce;
              const mac = helloMac(token, hubNonce, o.rank, o.worldSize, nonce);
              writeFrame(sock, { t: "hello", rank: o.rank, world: o.worldSize, nonce, mac });
            } else if (h.t === "ready" && hubNonce !== null) {
              if (!macMatches(readyMac(token, hubNonce, nonce, o.rank), h.mac)) {
                return fatal(
                  `the process at ${endpoint(o)} answered without proof of the job token: it is not this job's rank 0 ` +
                    `(another job on MASTER_PORT, or a different ${JOB_TOKEN_ENV}).`,
                );
              }
              return finish({ sock, reader });
            } else if (h.t === "error") {
              return finish({
                retry: "error",
                fatal: new CollectiveError(
                  `rank ${o.rank}: the rendezvous failed: ${h.message}`,
                  o.rank,
                  h.failedRank,
                ),
              });
            } else {
              return fatal(
                `the process at ${endpoint(o)} sent an unexpected "${h.t}" frame during the rendezvous.`,
              );
            }
          }
        } catch (e) {
          fatal(
            `the process at ${endpoint(o)} sent a malformed frame during the rendezvous (${(e as Error).message}); ` +
              "is MASTER_PORT this job's?",
          );
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
    if (o.worldSize === 1) return new TcpProcessGroup(o, new Alone());
    const token = requireToken(o.token, o.rank);
    const transport: Transport =
      o.rank === 0
        ? await Hub.start(o, token, timeout, connectTimeout)
        : await Spoke.join(o, token, timeout, connectTimeout);
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
