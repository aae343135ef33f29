/**
 * Explicit bind-group layouts derived from the WGSL a kernel generator wrote. `layout: "auto"` cannot
 * give the uniform block a dynamic offset, and without one every dispatch needs a fresh bind group
 * (the uniform ring offset changes each time). With the offset dynamic, a bind group depends only on
 * the buffers, so the Device caches it and a training step that reuses its buffers (the allocator
 * recycles them) creates almost none. All WGSL here comes from our own generators, so a small parser of
 * `@group(0) @binding(n) var...` declarations is enough; anything it does not recognise returns null and
 * the Device falls back to the auto layout.
 */

type StorageTextureFormat = "rgba32float" | "rgba16float";
type StorageTextureAccess = "read" | "write";

export type BindingKind =
  | "storage-read"
  | "storage"
  | "uniform"
  | "texture-float"
  | "texture-unfilterable"
  | `storage-texture-${StorageTextureAccess}-${StorageTextureFormat}`;

const DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var(?:<([^>]*)>)?\s+\w+\s*:\s*([^;]+);/g;

/** Binding kinds in binding order, or null when a declaration is not understood. */
export function parseBindings(wgsl: string): BindingKind[] | null {
  const out: BindingKind[] = [];
  for (const m of wgsl.matchAll(DECL)) {
    const index = Number(m[1]);
    const space = (m[2] ?? "").replace(/\s+/g, "");
    const type = m[3]!.replace(/\s+/g, "");
    let kind: BindingKind | null = null;
    // `var<storage>` defaults to read access.
    if (space === "storage,read" || space === "storage") kind = "storage-read";
    if (space === "storage,read_write") kind = "storage";
    if (space === "uniform") kind = "uniform";
    if (!space) {
      if (/^texture_2d<f32>$/.test(type)) kind = "texture-unfilterable";
      else {
        // Write-only (the pack kernel) or read-only (the texture matmul's operands) storage textures.
        const st = /^texture_storage_2d<(rgba32float|rgba16float),(read|write)>$/.exec(type);
        if (st) kind = `storage-texture-${st[2] as StorageTextureAccess}-${st[1] as StorageTextureFormat}`;
      }
    }
    if (!kind || out[index] !== undefined) return null;
    out[index] = kind;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) return null;
  return out;
}

export function layoutEntries(kinds: readonly BindingKind[]): GPUBindGroupLayoutEntry[] {
  const visibility = GPUShaderStage.COMPUTE;
  return kinds.map((k, binding): GPUBindGroupLayoutEntry => {
    switch (k) {
      case "storage-read":
        return { binding, visibility, buffer: { type: "read-only-storage" } };
      case "storage":
        return { binding, visibility, buffer: { type: "storage" } };
      case "uniform":
        return { binding, visibility, buffer: { type: "uniform", hasDynamicOffset: true } };
      case "texture-float":
        return { binding, visibility, texture: { sampleType: "float" } };
      case "texture-unfilterable":
        return { binding, visibility, texture: { sampleType: "unfilterable-float" } };
      default: {
        const [, , access, format] = k.split("-") as [
          string,
          string,
          StorageTextureAccess,
          StorageTextureFormat,
        ];
        return {
          binding,
          visibility,
          storageTexture: { access: access === "read" ? "read-only" : "write-only", format },
        };
      }
    }
  });
}
