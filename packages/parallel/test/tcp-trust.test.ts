/**
 * Who may join a TCP job, and what a peer may send. Strangers (no job token, garbage, oversized frames)
 * are refused and logged while the job goes on and computes the right values; a member whose payload does
 * not fit its collective fails the collective with PayloadSizeError instead of reading as NaN or
 * overwriting other ranks' slots. The raw peers here speak the wire format and the handshake from their
 * specification (wire.ts, handshake.ts), written out independently of the backend's code.
 */
import { createHmac, randomBytes } from "node:crypto";
import { type Server, type Socket, createConnection, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { FrameError, FrameReader } from "../src/backends/wire.js";
import {
  COLLECTIVE_TIMEOUT_ENV,
  CollectiveError,
  CollectiveTimeoutError,
  PayloadSizeError,
  type TcpOptions,
  TcpProcessGroup,
  collectiveTimeoutMs,
  initProcessGroup,
} from "../src/index.js";

const TOKEN = randomBytes(32).toString("hex");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Rejects if `p` has not settled after `ms` — a hang becomes a failed test, not a stuck run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type Json = Record<string, unknown>;

/** [u32 LE header length][u32 LE payload length][header JSON][payload]. */
function frame(header: Json, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const pre = Buffer.alloc(8);
  pre.writeUInt32LE(h.length, 0);
  pre.writeUInt32LE(payload.length, 4);
  return Buffer.concat([pre, h, payload]);
}

const hmac = (key: string, parts: Array<string | number>) =>
  createHmac("sha256", key).update(parts.join("\n")).digest("hex");

/** A hand-written peer: the frames it received, and when its connection closed. */
class RawPeer {
  readonly frames: Json[] = [];
  readonly closed: Promise<void>;
  private buf = Buffer.alloc(0);
  private waiting: Array<() => void> = [];

  constructor(readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 8) {
        const hl = this.buf.readUInt32LE(0);
        const pl = this.buf.readUInt32LE(4);
        if (this.buf.length < 8 + hl + pl) break;
        this.frames.push(JSON.parse(this.buf.subarray(8, 8 + hl).toString()) as Json);
        this.buf = this.buf.subarray(8 + hl + pl);
      }
      for (const w of this.waiting.splice(0)) w();
    });
    sock.on("error", () => {});
    this.closed = new Promise((resolve) => sock.on("close", () => resolve()));
  }

  /** Connects, retrying while nothing listens yet (rank 0 is starting). */
  static async connect(port: number, host = "127.0.0.1"): Promise<RawPeer> {
    for (;;) {
      const sock = await new Promise<Socket | null>((resolve) => {
        const s = createConnection({ host, port });
        s.once("connect", () => resolve(s));
        s.once("error", () => resolve(null));
      });
      if (sock) return new RawPeer(sock);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The first frame of type `t` (waiting for it). */
  async next(t: string): Promise<Json> {
    for (;;) {
      const f = this.frames.find((x) => x.t === t);
      if (f) return f;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** The handshake of a joining rank, with `key` as the token it believes in. */
  async hello(rank: number, world: number, key: string): Promise<void> {
    const challenge = await within(this.next("challenge"), 10_000, "rank 0's challenge");
    const nonce = randomBytes(16).toString("hex");
    const mac = hmac(key, ["vit-hello", challenge.nonce as string, nonce, rank, world]);
    this.sock.write(frame({ t: "hello", rank, world, nonce, mac }));
  }
}

async function group(
  o: Partial<TcpOptions> & { rank: number; masterPort: number },
): Promise<TcpProcessGroup> {
  return TcpProcessGroup.connect({
    worldSize: 2,
    masterAddr: "127.0.0.1",
    connectTimeoutMs: 20_000,
    token: TOKEN,
    ...o,
  });
}

/** Rank 1 joins for real; both ranks all-reduce and must get 1 + 2. */
async function jobStillWorks(rank0: Promise<TcpProcessGroup>, port: number): Promise<void> {
  const [g0, g1] = await Promise.all([rank0, group({ rank: 1, masterPort: port })]);
  try {
    const [a, b] = await Promise.all([g0.allReduceValues([1, 10]), g1.allReduceValues([2, 20])]);
    expect([...a]).toEqual([3, 30]);
    expect([...b]).toEqual([3, 30]);
  } finally {
    await Promise.all([g0.destroy(), g1.destroy()]);
  }
}

describe("joining a TCP job", () => {
  it("a multi-process group without a job token is refused at once, with the fix", async () => {
    const port = await freePort();
    const base = { worldSize: 2, masterAddr: "127.0.0.1", masterPort: port, connectTimeoutMs: 2000 };
    for (const rank of [0, 1]) {
      const err = await TcpProcessGroup.connect({ ...base, rank }).catch((e) => e);
      expect(err).toBeInstanceOf(CollectiveError);
      expect(err.message).toMatch(
        new RegExp(
          `^rank ${rank}: no job token\\..*\`vit launch\`.*export VIT_JOB_TOKEN=\\$\\(openssl rand -hex 32\\)`,
        ),
      );
    }
    const short = await TcpProcessGroup.connect({ ...base, rank: 1, token: "abc" }).catch((e) => e);
    expect(short.message).toMatch(/VIT_JOB_TOKEN has 3 characters; a job token needs at least 16/);
  });

  it("a taken port is a one-line error naming the fix", async () => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", () => resolve()));
    try {
      const err = await group({ rank: 0, masterPort: port }).catch((e) => e);
      expect(err).toBeInstanceOf(CollectiveError);
      expect(err.message).toBe(
        `rank 0: cannot listen on 127.0.0.1:${port} (EADDRINUSE): the port is taken; pick another MASTER_PORT.`,
      );
    } finally {
      squatter.close();
    }
  });

  it("impostors without the token are refused and logged; the job's result is unaffected", async () => {
    const port = await freePort();
    const log: string[] = [];
    const rank0 = group({ rank: 0, masterPort: port, log: (m) => log.push(m) });
    // The 40-line script: says hello as rank 1 straight away, as the protocol once allowed.
    const script = await RawPeer.connect(port);
    script.sock.write(frame({ t: "hello", rank: 1, world: 2 }));
    await within(script.closed, 10_000, "rank 0 closing the script's connection");
    // One that follows the handshake but holds another token.
    const guesser = await RawPeer.connect(port);
    await guesser.hello(1, 2, randomBytes(32).toString("hex"));
    await within(guesser.closed, 10_000, "rank 0 closing the guesser's connection");
    for (const p of [script, guesser]) {
      expect(p.frames.map((f) => f.t)).toEqual(["challenge", "error"]); // never "ready"
      expect(p.frames[1]!.message).toMatch(/^rank 0 refused this connection: /);
    }
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(/^rank 0: refused a connection from 127\.0\.0\.1:\d+: its hello is malformed/);
    expect(log[1]).toMatch(
      /^rank 0: refused a connection from 127\.0\.0\.1:\d+: it claimed rank 1 without proof of the job token/,
    );
    // Rank 0 listens on MASTER_ADDR only: another loopback address finds nothing.
    const other = await new Promise<string>((resolve) => {
      const s = createConnection({ host: "127.0.0.2", port });
      s.once("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(other).toBe("ECONNREFUSED");
    await jobStillWorks(rank0, port);
  });

  it("garbage and oversized frames during the rendezvous are dropped without aborting it", async () => {
    const port = await freePort();
    const log: string[] = [];
    const rank0 = group({ rank: 0, masterPort: port, log: (m) => log.push(m) });
    const notJson = Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{{{{{")]);
    const hugePayload = frame({ t: "hello", rank: 1, world: 2 });
    hugePayload.writeUInt32LE(0xffffffff, 4); // claims a 4 GiB payload after its header
    const inputs = [
      Buffer.from("GET / HTTP"), // 10 bytes: its "header length" is 542 MB
      Buffer.alloc(10), // an empty header, then two stray bytes
      notJson,
      hugePayload,
    ];
    for (const bytes of inputs) {
      const p = await RawPeer.connect(port);
      p.sock.write(bytes);
      await within(
        p.closed,
        10_000,
        `rank 0 closing a connection that sent ${JSON.stringify(bytes.toString())}`,
      );
    }
    expect(log).toHaveLength(4);
    expect(log[0]).toMatch(/refused .*: FrameError: a frame declares a 542393671-byte header \(limit 4096\)/);
    expect(log[1]).toMatch(/refused .*: FrameError: a frame header of 0 bytes is not JSON/);
    expect(log[2]).toMatch(/refused .*: FrameError: a frame header of 5 bytes is not JSON/);
    expect(log[3]).toMatch(
      /refused .*: FrameError: a "hello" frame carries no payload, but this one declares 4294967295/,
    );
    await jobStillWorks(rank0, port);
  });

  it("a frame reader refuses an oversized header from its 8-byte prefix alone, and a payload from its header", () => {
    const reader = new FrameReader({
      maxHeader: 4096,
      checkPayload: (_h, bytes) => {
        if (bytes !== 0) throw new FrameError(`no payload expected, ${bytes} declared`);
      },
    });
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(0xffffffff, 0);
    prefix.writeUInt32LE(0xffffffff, 4);
    // Nothing but the prefix has arrived: the reader must refuse now rather than wait for 8 GiB.
    expect(() => [...reader.push(prefix)]).toThrow(
      new FrameError("a frame declares a 4294967295-byte header (limit 4096) and a 4294967295-byte payload"),
    );
    const header = Buffer.from(JSON.stringify({ t: "bye" }));
    const pre = Buffer.alloc(8);
    pre.writeUInt32LE(header.length, 0);
    pre.writeUInt32LE(0xffffffff, 4);
    const fresh = new FrameReader({ ...reader.limits });
    expect(() => [...fresh.push(Buffer.concat([pre, header]))]).toThrow(
      /no payload expected, 4294967295 declared/,
    );
  });
});

describe("payload sizes", () => {
  it("a member's short or long contribution fails the collective with PayloadSizeError, naming it", async () => {
    for (const [bytes, what] of [
      [4, "short"],
      [16, "long"],
    ] as const) {
      const port = await freePort();
      const rank0 = group({ rank: 0, masterPort: port, timeoutMs: 20_000 });
      // A member: it holds the token, but sends `bytes` bytes for an 8-byte all-reduce.
      const member = await RawPeer.connect(port);
      await member.hello(1, 2, TOKEN);
      const g0 = await rank0;
      try {
        await within(member.next("ready"), 10_000, "ready");
        const desc = { kind: "allReduce", op: "sum", dtype: "f64", bytes: 8 };
        member.sock.write(frame({ t: "coll", seq: 0, desc }, new Uint8Array(bytes).fill(0x3f)));
        const err = await g0.allReduceValues([1]).then(
          (v) => v,
          (e) => e,
        );
        expect(err, what).toBeInstanceOf(PayloadSizeError);
        expect(err.failedRank).toBe(1);
        expect(err.message).toBe(
          `rank 0: rank 1 sent a bad frame (PayloadSizeError: rank 1 sent ${bytes} payload bytes for allReduce(sum, f64, 8 B) #0, which needs 8 from it)`,
        );
        // The member is told and dropped.
        await within(member.closed, 10_000, "rank 0 closing the member's connection");
        expect(member.frames.at(-1)).toMatchObject({ t: "error", failedRank: 1 });
      } finally {
        member.sock.destroy();
        await g0.destroy();
      }
    }
  });

  /** A rank 0 written by hand: answers the handshake with `key`, then each collective with `result`. */
  async function fakeRankZero(port: number, key: string, result: Uint8Array): Promise<Server> {
    const server = createServer((sock) => {
      const peer = new RawPeer(sock);
      const nonce = randomBytes(16).toString("hex");
      sock.write(frame({ t: "challenge", nonce }));
      void (async () => {
        const hello = await peer.next("hello");
        const mac = hmac(key, ["vit-ready", String(hello.nonce), nonce, Number(hello.rank)]);
        sock.write(frame({ t: "ready", mac }));
        const coll = await peer.next("coll");
        sock.write(frame({ t: "result", seq: coll.seq as number }, result));
      })();
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
    return server;
  }

  it("a result of the wrong size fails the collective on the receiving rank with PayloadSizeError", async () => {
    for (const bytes of [4, 16]) {
      const port = await freePort();
      const server = await fakeRankZero(port, TOKEN, new Uint8Array(bytes));
      try {
        const g1 = await group({ rank: 1, masterPort: port, timeoutMs: 20_000 });
        const err = await g1.allReduceValues([1]).then(
          (v) => v,
          (e) => e,
        );
        expect(err).toBeInstanceOf(PayloadSizeError);
        expect(err.message).toBe(
          `rank 1: rank 0 sent a bad frame (PayloadSizeError: ${bytes} result bytes for allReduce(sum, f64, 8 B) #0, which needs 8)`,
        );
        await g1.destroy();
      } finally {
        server.close();
      }
    }
  });

  it("a joining rank refuses a rank 0 that cannot prove it holds the token", async () => {
    const port = await freePort();
    const server = await fakeRankZero(port, randomBytes(32).toString("hex"), new Uint8Array(8));
    try {
      const err = await group({ rank: 1, masterPort: port }).catch((e) => e);
      expect(err).toBeInstanceOf(CollectiveError);
      expect(err.message).toMatch(
        /^rank 1: the process at 127\.0\.0\.1:\d+ answered without proof of the job token: it is not this job's rank 0/,
      );
    } finally {
      server.close();
    }
  });
});

describe("the collective timeout setting", () => {
  it(`${COLLECTIVE_TIMEOUT_ENV} (seconds) sets how long a collective waits for a missing rank`, async () => {
    expect(collectiveTimeoutMs({})).toBeUndefined();
    expect(collectiveTimeoutMs({ [COLLECTIVE_TIMEOUT_ENV]: "2.5" })).toBe(2500);
    expect(() => collectiveTimeoutMs({ [COLLECTIVE_TIMEOUT_ENV]: "soon" })).toThrow(
      'VIT_COLLECTIVE_TIMEOUT="soon" is not a positive number of seconds (fix: set VIT_COLLECTIVE_TIMEOUT',
    );
    const port = await freePort();
    const env = (rank: number) => ({
      RANK: String(rank),
      WORLD_SIZE: "2",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
      VIT_JOB_TOKEN: TOKEN,
      [COLLECTIVE_TIMEOUT_ENV]: "0.3",
    });
    const [g0, g1] = await Promise.all([
      initProcessGroup({ env: env(0) }),
      initProcessGroup({ env: env(1) }),
    ]);
    try {
      // Rank 1 never enters the collective.
      const err = await g0.allReduceValues([1]).catch((e) => e);
      expect(err).toBeInstanceOf(CollectiveTimeoutError);
      expect(err.message).toMatch(/timed out after 300 ms waiting for rank\(s\) 1/);
    } finally {
      await Promise.all([g0.destroy(), g1.destroy()]);
    }
  });
});
