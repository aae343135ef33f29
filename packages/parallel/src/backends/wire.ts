/**
 * The TCP backend's framing: [u32 header length][u32 payload length][header JSON][payload bytes],
 * little-endian. Headers are small; payloads are raw tensor bytes and are never copied into JSON.
 */
import type { CollectiveDesc } from "../host-collectives.js";

export type Header =
  | { t: "hello"; rank: number; world: number }
  | { t: "ready" }
  | { t: "coll"; seq: number; desc: CollectiveDesc }
  | { t: "result"; seq: number }
  /** Sent by rank 0 to every peer when the job cannot go on; names the rank at fault. */
  | { t: "error"; message: string; failedRank?: number; timeout?: boolean }
  /** Orderly leave: the peer closes next, and that close is not a failure. */
  | { t: "bye" };

export interface Frame {
  header: Header;
  payload: Uint8Array;
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

/** Reassembles frames from socket chunks. Chunks are joined once per complete frame, not per chunk. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private needed = 8;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
    if (this.length < this.needed) return [];
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    const frames: Frame[] = [];
    for (;;) {
      if (buf.byteLength < 8) break;
      const hl = buf.readUInt32LE(0);
      const pl = buf.readUInt32LE(4);
      if (buf.byteLength < 8 + hl + pl) {
        this.needed = 8 + hl + pl;
        break;
      }
      const header = JSON.parse(buf.subarray(8, 8 + hl).toString("utf8")) as Header;
      const payload = new Uint8Array(buf.buffer, buf.byteOffset + 8 + hl, pl);
      frames.push({ header, payload });
      buf = buf.subarray(8 + hl + pl);
      this.needed = 8;
    }
    this.chunks = buf.byteLength ? [buf] : [];
    this.length = buf.byteLength;
    return frames;
  }
}
