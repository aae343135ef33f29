import { VitError } from "@vit/tensor";

/** Options or parameters an optimizer cannot work with (nothing to optimise, Nesterov without momentum). */
export class OptimizerError extends VitError {}
