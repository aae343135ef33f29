import { vitConfig } from "@vit/vitest-config";

export default vitConfig({
  globalSetup: ["test/global-setup.ts"],
  setupFiles: ["test/setup.ts"],
});
