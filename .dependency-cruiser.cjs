/**
 * The package arrows (DESIGN.md "Packages"), checked by tooling/scripts/check-deps.sh over packages/*\/src
 * and apps/*\/src:
 *
 *   {@vit/errors, @vit/half} <- @vit/tensor <- {@vit/nn, @vit/optim} <- @vit/parallel <- @vit/model
 *     <- @vit/trainer <- apps
 *   @vit/data is independent and GPU-free: it imports only @vit/errors and @vit/half.
 *   @vit/errors and @vit/half (host float16/bfloat16 conversion) import nothing.
 *
 * (a) no package imports one above it (or a sibling: nn and optim do not know each other);
 * (b) no import cycle inside a package's src (type-only imports are erased by the compiler and cannot
 *     change the order modules evaluate in, so they do not count);
 * (c) another package is imported by its name only, never a path into its src or dist;
 * (d) @vit/tensor's WGSL generators (src/kernels/, src/matmul/kernels/) import nothing that runs on a Device.
 * Tests are not cruised: a strategy's test compares against the single-device model above it.
 */

/** What each package may import, besides itself and third-party modules. */
const ALLOWED = {
  errors: [],
  half: [],
  tensor: ["errors", "half"],
  nn: ["errors", "half", "tensor"],
  optim: ["errors", "half", "tensor"],
  data: ["errors", "half"],
  parallel: ["errors", "half", "tensor", "nn", "optim"],
  model: ["errors", "half", "tensor", "nn", "optim", "parallel"],
  trainer: ["errors", "half", "tensor", "nn", "optim", "parallel", "model", "data"],
};
const PACKAGES = Object.keys(ALLOWED);

/** A package's modules, whether resolved through its built dist or (not built yet) left as its name. */
const pkgPath = (names) => `^(packages/(${names.join("|")})/|@vit/(${names.join("|")})(/|$))`;

const layerRules = PACKAGES.map((p) => {
  const forbidden = PACKAGES.filter((q) => q !== p && !ALLOWED[p].includes(q));
  return {
    name: `layers-${p}`,
    comment: `@vit/${p} may import only ${ALLOWED[p].map((q) => `@vit/${q}`).join(", ") || "no other @vit package"}.`,
    severity: "error",
    from: { path: `^packages/${p}/src/` },
    to: { path: forbidden.length ? pkgPath(forbidden) : "^$" },
  };
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "packages-not-apps",
      comment: "No package imports an app.",
      severity: "error",
      from: { path: "^packages/" },
      to: { path: "^apps/" },
    },
    {
      name: "apps-not-apps",
      comment: "An app does not import another app.",
      severity: "error",
      from: { path: "^apps/([^/]+)/" },
      to: { path: "^apps/", pathNot: "^apps/$1/" },
    },
    {
      name: "no-cycles",
      comment: "No import cycle inside a package's src (type-only imports excepted: they are erased).",
      severity: "error",
      from: { path: "^(packages|apps)/[^/]+/src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "tensor-kernels-pure",
      comment:
        "@vit/tensor's kernels/ and matmul/kernels/ hold WGSL generators only: they import each other and " +
        "types (dtype.ts), never the Device, the GPU, the allocator, tensors or the ops that dispatch them.",
      severity: "error",
      from: { path: "^packages/tensor/src/(matmul/)?kernels/" },
      to: { path: "^packages/tensor/src/", pathNot: "^packages/tensor/src/((matmul/)?kernels/|dtype\\.ts$)" },
    },
    {
      name: "no-deep-imports",
      comment: "Import another package by its name only (its index), never a path into its src or dist.",
      severity: "error",
      from: { path: "^(packages|apps)/([^/]+)/" },
      to: {
        path: "^(packages|apps)/[^/]+/",
        pathNot: ["^$1/$2/", "^packages/[^/]+/dist/index\\.js$"],
      },
    },
    {
      name: "no-deep-imports-by-name",
      comment: "Import @vit packages by their name only, not a subpath.",
      severity: "error",
      from: {},
      to: { path: "^@vit/[^/]+/." },
    },
  ],
  options: {
    // Another package resolves to its built dist (or stays its bare name before a build): seen, not cruised.
    doNotFollow: { path: "(^|/)(node_modules|dist)/" },
    tsPreCompilationDeps: true,
  },
};
