/**
 * Errors of collectives. Every one names the rank that reports it and, when known, the rank that failed
 * (closed its connection, crashed, never arrived), so a 64-rank job's logs point at the culprit.
 */

export class CollectiveError extends Error {
  constructor(
    message: string,
    /** The rank raising the error. */
    readonly rank: number,
    /** The rank whose failure caused it, when known. */
    readonly failedRank?: number,
  ) {
    super(message);
    this.name = "CollectiveError";
  }
}

/** A collective (or the rendezvous) did not complete within the group's timeout. */
export class CollectiveTimeoutError extends CollectiveError {
  constructor(message: string, rank: number, failedRank?: number) {
    super(message, rank, failedRank);
    this.name = "CollectiveTimeoutError";
  }
}

/** Ranks called different collectives (kind, op, size or root) at the same position in their sequence. */
export class CollectiveMismatchError extends CollectiveError {
  constructor(message: string, rank: number, failedRank?: number) {
    super(message, rank, failedRank);
    this.name = "CollectiveMismatchError";
  }
}

/**
 * A rank's payload does not have the byte size its collective needs. Refused before it is buffered: a short
 * one would read as NaN in the reduction, a long one would overwrite other ranks' slots.
 */
export class PayloadSizeError extends CollectiveError {
  constructor(message: string, rank: number, failedRank?: number) {
    super(message, rank, failedRank);
    this.name = "PayloadSizeError";
  }
}
