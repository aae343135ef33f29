/**
 * Errors of collectives. Every one names the rank that reports it and, when known, the rank that failed
 * (closed its connection, crashed, never arrived), so a 64-rank job's logs point at the culprit. Like every
 * user-facing error in vit they are VitErrors; ParallelConfigError covers layouts and launch environments.
 */
import { VitError, type VitErrorOptions } from "@vit/tensor";

/** A parallel layout or launch environment that cannot work: world size, ranks, sizes that do not divide. */
export class ParallelConfigError extends VitError {}

export class CollectiveError extends VitError {
  constructor(
    message: string,
    /** The rank raising the error. */
    readonly rank: number,
    /** The rank whose failure caused it, when known. */
    readonly failedRank?: number,
    opts: VitErrorOptions = {},
  ) {
    super(message, { where: `rank ${rank}`, ...opts });
  }
}

/** A collective (or the rendezvous) did not complete within the group's timeout. */
export class CollectiveTimeoutError extends CollectiveError {}

/** Ranks called different collectives (kind, op, size or root) at the same position in their sequence. */
export class CollectiveMismatchError extends CollectiveError {}

/**
 * A rank's payload does not have the byte size its collective needs. Refused before it is buffered: a short
 * one would read as NaN in the reduction, a long one would overwrite other ranks' slots.
 */
export class PayloadSizeError extends CollectiveError {}
