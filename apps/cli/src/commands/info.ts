/** `vit info`: the adapter Dawn picked, its features and limits, and the data loader's JPEG decoder. */
import { jpegDecoderInfo } from "@vit/data";
import { Device } from "@vit/tensor";

const FEATURES = ["shader-f16", "subgroups", "timestamp-query", "chromium-experimental-subgroup-matrix"];
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
];

export async function infoCommand(opts: { json?: boolean }): Promise<void> {
  const device = await Device.create();
  const a = device.adapter;
  const info = {
    adapter: {
      vendor: a.vendor,
      architecture: a.architecture,
      device: a.device,
      description: a.description,
      backend: a.backend,
      fallback: a.isFallbackAdapter,
      subgroupSize:
        a.subgroupMinSize === a.subgroupMaxSize ? a.subgroupMinSize : [a.subgroupMinSize, a.subgroupMaxSize],
    },
    features: Object.fromEntries(FEATURES.map((f) => [f, device.hasFeature(f)])),
    allFeatures: a.features,
    limits: Object.fromEntries(LIMITS.map((k) => [k, a.limits[k]])),
    pollMode: device.pollMode,
    jpegDecoder: jpegDecoderInfo(),
    node: process.versions.node,
  };
  device.destroy();
  if (opts.json) {
    console.log(JSON.stringify(info));
    return;
  }
  const yes = (b: boolean) => (b ? "yes" : "no");
  console.log(`Adapter:      ${a.description || a.device}`);
  console.log(
    `  vendor      ${a.vendor}   architecture ${a.architecture}   backend ${a.backend}${a.isFallbackAdapter ? "   (fallback/CPU)" : ""}`,
  );
  console.log(`  subgroups   ${info.adapter.subgroupSize ?? "?"} lanes`);
  console.log("Features:");
  for (const f of FEATURES) console.log(`  ${f.padEnd(40)} ${yes(device.hasFeature(f))}`);
  console.log("Limits:");
  for (const k of LIMITS) console.log(`  ${k.padEnd(40)} ${a.limits[k]}`);
  console.log(`GPU wait mode: ${device.pollMode} (VIT_POLL=spin|timer overrides)`);
  const jpeg = info.jpegDecoder;
  console.log(`JPEG decoder:  ${jpeg.name}${jpeg.reason ? ` — ${jpeg.reason}` : ""}`);
}
