/**
 * The TCP backend's framing: [u32 header length][u32 payload length][header JSON][payload bytes],
 * little-endian. Headers are small; payloads are raw tensor bytes and are never copied into JSON.
 *
 * A reader trusts nothing a peer declares: a header longer than the reader's limit is refused as soon as
 * its 8-byte prefix arrives, and the payload length must be exactly what the header's collective needs
 * (checked once the header is parsed, before a payload byte is buffered), so a peer cannot make a rank
 * hold more memory than the collective it takes part in.
 */
import type { CollectiveDesc } from "../host-collectives.js";

export type Header =
  /** Rank 0 to a new connection: the nonce the connecting rank must prove it knows the job token with. */
  | { t: "challenge"; nonce: string }
  /** mac = HMAC-SHA256(token, hello fields and both nonces): see handshake.ts. */
  | { t: "hello"; rank: number; world: number; nonce: string; mac: string }
  /** mac proves to the joining rank that this rank 0 holds the job token too. */
  | { t: "ready"; mac: string }
  | { t: "coll"; seq: number; desc: CollectiveDesc }
  | { t: "result"; seq: number }
  /** Sent by rank 0 to every peer when the job cannot go on; names the rank at fault. */
  | { t: "error"; message: string; failedRank?: number; timeout?: boolean }
  /** Orderly leave: the peer closes next, and that close is not a failure. */
  | { t: "bye" };

const TYPES = new Set<Header["t"]>(["challenge", "hello", "ready", "coll", "result", "error", "bye"]);

export interface Frame {
  header: Header;
  payload: Uint8Array;
}

/** A frame that breaks the protocol: oversized, not JSON, or of an unknown type. */
export class FrameError extends Error {
  override name = "FrameError";
}

/** What a reader accepts; the owner may change it between frames (e.g. once a peer has authenticated). */
export interface FrameLimits {
  /** Longest header (JSON bytes) accepted. */
  maxHeader: number;
  /**
   * Throws (a PayloadSizeError or FrameError) unless `bytes` is the payload size `header` must come with.
   * Called after the header is parsed and before any of the payload is buffered.
   */
  checkPayload(header: Header, bytes: number): void;
}

/** Writes one frame (header and payload are written without concatenating them). */
export function writeFrame(
  sock: { write(b: Uint8Array): boolean },
  header: Header,
  payload?: Uint8Array,
): void {
  const h = Buffer.from(JSON.stringify(header), "utf8");
  const pre = Buffer.alloc(8);
  pre.writeUInt32LE(h.byteLength, 0);
  pre.writeUInt32LE(payload?.byteLength ?? 0, 4);
  sock.write(pre);
  sock.write(h);
  if (payload?.byteLength) sock.write(payload);
}

function parseHeader(bytes: Buffer): Header {
  let h: unknown;
  try {
    h = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new FrameError(`a frame header of ${bytes.byteLength} bytes is not JSON`);
  }
  const t = (h as { t?: unknown } | null)?.t;
  if (typeof h !== "object" || h === null || !TYPES.has(t as Header["t"]))
    throw new FrameError(`a frame header has no known type (t = ${JSON.stringify(t)?.slice(0, 40)})`);
  return h as Header;
}

/**
 * Reassembles frames from socket chunks. Chunks are joined once per complete frame, not per chunk.
 * `push` yields frames lazily, so limits changed while handling one frame apply to the next.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;
  /** The frame in progress, once its header has been read and its payload size accepted. */
  private pending: { header: Header; payloadBytes: number } | null = null;

  constructor(public limits: FrameLimits) {}

  *push(chunk: Buffer): Generator<Frame> {
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
    for (;;) {
      if (!this.pending) {
        if (this.length < 8) return;
        const pre = this.peek(8);
        const headerBytes = pre.readUInt32LE(0);
        const payloadBytes = pre.readUInt32LE(4);
        if (headerBytes > this.limits.maxHeader) {
          throw new FrameError(
            `a frame declares a ${headerBytes}-byte header (limit ${this.limits.maxHeader}) and a ${payloadBytes}-byte payload`,
          );
        }
        if (this.length < 8 + headerBytes) return;
        const header = parseHeader(this.take(8 + headerBytes).subarray(8));
        this.limits.checkPayload(header, payloadBytes);
        this.pending = { header, payloadBytes };
      }
      const { header, payloadBytes } = this.pending;
      if (this.length < payloadBytes) return;
      const payload = payloadBytes ? this.take(payloadBytes) : new Uint8Array(0);
      this.pending = null;
      yield { header, payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) };
    }
  }

  /** The first n buffered bytes (joined into one chunk if they span several). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.byteLength < n) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0]!.subarray(0, n);
  }

  /** Removes and returns the first n buffered bytes. */
  private take(n: number): Buffer {
    const out = this.peek(n);
    const rest = this.chunks[0]!.subarray(n);
    if (rest.byteLength) this.chunks[0] = rest;
    else this.chunks.shift();
    this.length -= n;
    return out;
  }
}
