/**
 * Who may join a TCP process group: only processes that hold the job's secret token (VIT_JOB_TOKEN, made by
 * `vit launch`). Rank 0 sends each new connection a random nonce; the joining rank answers with its rank,
 * world size, a nonce of its own and HMAC-SHA256(token, all of them); rank 0's "ready" carries an HMAC over
 * both nonces in the other order, so the joining rank knows it reached this job's rank 0 and not another
 * process on the port. The token itself never crosses the wire, and a recorded exchange cannot be replayed
 * (rank 0's nonce is fresh per connection). Frames after the handshake are not authenticated one by one:
 * like torchrun's TCP store, this keeps strangers out of a job, it does not protect against someone who can
 * rewrite traffic on the network path (use a private network or VPN between hosts for that).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CollectiveError } from "../errors.js";

/** The environment variable that carries the job's secret to every rank. */
export const JOB_TOKEN_ENV = "VIT_JOB_TOKEN";

const MIN_TOKEN_LENGTH = 16;

/** A fresh secret for one job: 32 random bytes, hex. */
export function newJobToken(): string {
  return randomBytes(32).toString("hex");
}

export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

export function isNonce(v: unknown): v is string {
  return typeof v === "string" && /^[0-9a-f]{32}$/.test(v);
}

function mac(token: string, parts: Array<string | number>): string {
  return createHmac("sha256", token).update(parts.join("\n")).digest("hex");
}

/** The joining rank's proof: binds rank 0's nonce to its rank, world size and own nonce. */
export function helloMac(
  token: string,
  hubNonce: string,
  rank: number,
  world: number,
  nonce: string,
): string {
  return mac(token, ["vit-hello", hubNonce, nonce, rank, world]);
}

/** Rank 0's proof, in its "ready" to `rank`. */
export function readyMac(token: string, hubNonce: string, nonce: string, rank: number): string {
  return mac(token, ["vit-ready", nonce, hubNonce, rank]);
}

/** Constant-time comparison of an expected MAC with what a peer sent (anything at all). */
export function macMatches(expected: string, got: unknown): boolean {
  if (typeof got !== "string" || !/^[0-9a-f]{64}$/.test(got)) return false;
  return timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(got, "hex"));
}

/** Throws the one-line fix when a multi-process rank has no usable token. */
export function requireToken(token: string | undefined, rank: number): string {
  const fix =
    "Launch with `vit launch`, which makes one, or give every rank the same random " +
    `${JOB_TOKEN_ENV} (e.g. export ${JOB_TOKEN_ENV}=$(openssl rand -hex 32)).`;
  if (!token) {
    throw new CollectiveError(
      `rank ${rank}: no job token. A multi-process group admits only processes that hold the job's secret: ${fix}`,
      rank,
    );
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new CollectiveError(
      `rank ${rank}: ${JOB_TOKEN_ENV} has ${token.length} characters; a job token needs at least ${MIN_TOKEN_LENGTH}. ${fix}`,
      rank,
    );
  }
  return token;
}
