import { vitConfig } from "@vit/vitest-config";

export default vitConfig();
