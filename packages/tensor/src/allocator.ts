/**
 * Caching buffer allocator. Creating and destroying GPU buffers is slow and fragments memory, so freed
 * buffers go back to a free list keyed by size class and are handed out again (as PyTorch's CUDA caching
 * allocator does). Size classes are multiples of 256 B up to 64 KiB and quarter powers of two above,
 * which bounds waste at 25% while letting a training loop's repeated shapes hit the cache every step.
 */
export interface MemoryStats {
  /** Bytes held by live tensors (rounded to size classes). */
  liveBytes: number;
  /** Highest liveBytes since creation or the last resetPeak(). */
  peakBytes: number;
  /** Bytes of every GPU buffer this allocator holds, live or cached. */
  reservedBytes: number;
  liveBuffers: number;
  cachedBuffers: number;
}

export function sizeClass(bytes: number): number {
  if (bytes <= 65536) return Math.max(256, Math.ceil(bytes / 256) * 256);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export const STORAGE_USAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC

export class BufferAllocator {
  private free = new Map<number, GPUBuffer[]>();
  private live = 0;
  private peak = 0;
  private reserved = 0;
  private liveCount = 0;
  private cachedCount = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  alloc(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new RangeError(
        `${label}: a buffer of ${bytes} bytes exceeds this adapter's maxBufferSize/maxStorageBufferBindingSize ` +
          `(${this.maxBufferSize} bytes). Use a smaller batch or model, or tensor parallelism to split the weight.`,
      );
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.cachedCount--;
    } else {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.reserved += size;
    }
    this.live += size;
    this.liveCount++;
    if (this.live > this.peak) this.peak = this.live;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.live -= size;
    this.liveCount--;
    this.cachedCount++;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** Destroys every cached (free) buffer; live ones are untouched. */
  emptyCache(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.reserved -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
    this.cachedCount = 0;
  }

  stats(): MemoryStats {
    return {
      liveBytes: this.live,
      peakBytes: this.peak,
      reservedBytes: this.reserved,
      liveBuffers: this.liveCount,
      cachedBuffers: this.cachedCount,
    };
  }

  resetPeak(): void {
    this.peak = this.live;
  }
}
