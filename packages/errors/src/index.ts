export { VitError, type VitErrorOptions } from "./vit-error.js";
