import { ConfigError, FormatError, LabelRangeError } from "../errors.js";
import { sharedBytes } from "../shared.js";
import { readMaybeGzip } from "./files.js";
import { InMemoryDataset } from "./memory.js";

export const CIFAR10_CLASSES: readonly string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

export const CIFAR100_CLASSES: readonly string[] = (
  "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can " +
  "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin " +
  "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster " +
  "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck " +
  "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk " +
  "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger " +
  "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split(" ");

export const CIFAR100_COARSE_CLASSES: readonly string[] = (
  "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices " +
  "household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes " +
  "large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees " +
  "vehicles_1 vehicles_2"
).split(" ");

export interface CifarOptions {
  /** Binary batch files: CIFAR-10 `data_batch_{1..5}.bin` / `test_batch.bin`, CIFAR-100 `train.bin` / `test.bin`. */
  files: readonly string[];
  variant: "cifar10" | "cifar100";
  /** CIFAR-100 only: fine (100 classes, default) or coarse (20 superclasses) labels. */
  labels?: "fine" | "coarse";
  name?: string;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;

/**
 * Loads CIFAR-10/100 binary batches. Records are [label byte(s)][1024 R][1024 G][1024 B]; the planes are
 * interleaved to HWC on load so CIFAR flows through the same transforms as every other source.
 */
export async function cifarDataset(opts: CifarOptions): Promise<InMemoryDataset> {
  if (opts.files.length === 0)
    throw new ConfigError("cifarDataset: no files given", "pass at least one batch file");
  const labelBytes = opts.variant === "cifar10" ? 1 : 2;
  const record = labelBytes + 3 * PLANE;
  const coarse = opts.variant === "cifar100" && opts.labels === "coarse";
  const classes =
    opts.variant === "cifar10" ? CIFAR10_CLASSES : coarse ? CIFAR100_COARSE_CLASSES : CIFAR100_CLASSES;
  const hint = `pass ${opts.variant === "cifar10" ? "CIFAR-10" : "CIFAR-100"} binary-version batch files`;
  const raw: Uint8Array[] = [];
  let total = 0;
  for (const f of opts.files) {
    const bytes = await readMaybeGzip(f, "CIFAR batch file", hint);
    if (bytes.length === 0 || bytes.length % record !== 0) {
      throw new FormatError(
        f,
        `${bytes.length} bytes is not a whole number of ${record}-byte ${opts.variant} records`,
        opts.variant === "cifar10"
          ? "CIFAR-100 files have 3074-byte records: use variant 'cifar100'; otherwise the file is truncated"
          : "CIFAR-10 files have 3073-byte records: use variant 'cifar10'; otherwise the file is truncated",
      );
    }
    raw.push(bytes);
    total += bytes.length / record;
  }
  const pixels = sharedBytes(total * 3 * PLANE);
  const labels = new Int32Array(total);
  let n = 0;
  for (let fi = 0; fi < raw.length; fi++) {
    const bytes = raw[fi]!;
    const count = bytes.length / record;
    for (let r = 0; r < count; r++, n++) {
      const base = r * record;
      const label = bytes[base + (coarse ? 0 : labelBytes - 1)]!;
      if (label >= classes.length) {
        throw new LabelRangeError(opts.files[fi]!, label, classes.length, `record ${r}`);
      }
      labels[n] = label;
      const src = base + labelBytes;
      const dst = n * 3 * PLANE;
      for (let p = 0; p < PLANE; p++) {
        pixels[dst + 3 * p] = bytes[src + p]!;
        pixels[dst + 3 * p + 1] = bytes[src + PLANE + p]!;
        pixels[dst + 3 * p + 2] = bytes[src + 2 * PLANE + p]!;
      }
    }
  }
  return new InMemoryDataset({
    name: opts.name ?? opts.variant,
    pixels,
    labels,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classes,
    labelFile: opts.files.join(", "),
  });
}
