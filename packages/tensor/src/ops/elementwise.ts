/**
 * Element-wise ops: unary math, binary ops with NumPy broadcasting, and scalar ops. One kernel template
 * serves them all: the op contributes a WGSL expression; shapes and broadcast strides are uniforms, so a
 * new shape never compiles a new pipeline. Backward passes that need f'(x) use fused "grad" binary ops
 * (one dispatch for g·f'(x)).
 */
import { needsGrad, record } from "../autograd.js";
import { requireFloat } from "../checks.js";
import { ShapeError, fmtShape } from "../errors.js";
import { MATH_WGSL } from "../kernels/math.js";
import { sameShape } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { elementwise } from "./elementwise-kernel.js";
import { sumTo } from "./reduce.js";

export { MATH_WGSL, elementwise };

// ---- unary ----

type UnaryGrad = (x: Tensor, y: Tensor, g: Tensor) => Tensor;

function unary(op: string, expr: string, grad: UnaryGrad) {
  return (x: Tensor): Tensor => {
    const y = elementwise(op, [x], expr);
    if (needsGrad(x)) record(y, { name: op, inputs: [x], backward: (g) => [grad(x, y, g)] });
    return y;
  };
}

export const neg = unary("neg", "-a", (_x, _y, g) => elementwise("neg", [g], "-a"));
export const exp = unary("exp", "exp(a)", (_x, y, g) => elementwise("mul", [g, y], "a * b"));
export const log = unary("log", "log(a)", (x, _y, g) => elementwise("div", [g, x], "a / b"));
export const sqrt = unary("sqrt", "sqrt(a)", (_x, y, g) => elementwise("sqrt_grad", [g, y], "0.5 * a / b"));
export const rsqrt = unary("rsqrt", "inverseSqrt(a)", (_x, y, g) =>
  elementwise("rsqrt_grad", [g, y], "-0.5 * a * b * b * b"),
);
export const tanh = unary("tanh", "tanh_(a)", (_x, y, g) =>
  elementwise("tanh_grad", [g, y], "a * (1.0 - b * b)"),
);
export const sigmoid = unary("sigmoid", "sigmoid_(a)", (_x, y, g) =>
  elementwise("sigmoid_grad", [g, y], "a * b * (1.0 - b)"),
);
export const relu = unary("relu", "max(a, 0.0)", (x, _y, g) =>
  elementwise("relu_grad", [g, x], "select(0.0, a, b > 0.0)"),
);
export const abs = unary("abs", "abs(a)", (x, _y, g) => elementwise("abs_grad", [g, x], "a * sign(b)"));
export const square = unary("square", "a * a", (x, _y, g) =>
  elementwise("square_grad", [g, x], "2.0 * a * b"),
);
export const reciprocal = unary("reciprocal", "1.0 / a", (_x, y, g) =>
  elementwise("reciprocal_grad", [g, y], "-a * b * b"),
);
/** GELU with the exact erf (Megatron/NeMo, timm default). */
export const gelu = unary("gelu", "gelu_erf(a)", (x, _y, g) =>
  elementwise("gelu_grad", [g, x], "a * gelu_erf_grad(b)"),
);
/** GELU with the tanh approximation. */
export const geluTanh = unary("gelu_tanh", "gelu_tanh(a)", (x, _y, g) =>
  elementwise("gelu_tanh_grad", [g, x], "a * gelu_tanh_grad(b)"),
);

// ---- scalar ----

export function addScalar(x: Tensor, s: number): Tensor {
  const y = elementwise("add_scalar", [x], "a + s", s);
  if (needsGrad(x)) record(y, { name: "add_scalar", inputs: [x], backward: (g) => [g] });
  return y;
}

export function mulScalar(x: Tensor, s: number): Tensor {
  const y = elementwise("mul_scalar", [x], "a * s", s);
  if (needsGrad(x))
    record(y, {
      name: "mul_scalar",
      inputs: [x],
      backward: (g) => [elementwise("mul_scalar", [g], "a * s", s)],
    });
  return y;
}

/** x^p for a scalar exponent p. */
export function powScalar(x: Tensor, p: number): Tensor {
  const y = elementwise("pow_scalar", [x], "pow(a, s)", p);
  if (needsGrad(x)) {
    record(y, {
      name: "pow_scalar",
      inputs: [x],
      backward: (g) => [elementwise("pow_scalar_grad", [g, x], "a * s * pow(b, s - 1.0)", p)],
    });
  }
  return y;
}

export function clone(x: Tensor): Tensor {
  return elementwise("clone", [x], "a");
}

/** Broadcasts `x` to `shape` (a copy, as torch's expand(...).contiguous()). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const y = elementwise("expand", [x], "a", 0, x.dtype, shape);
  if (needsGrad(x)) record(y, { name: "expand", inputs: [x], backward: (g) => [gradTo(g, x.shape)] });
  return y;
}

// ---- binary ----

export function add(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("add", [a, b], "a + b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "add",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? gradTo(g, a.shape) : null,
        b.requiresGrad ? gradTo(g, b.shape) : null,
      ],
    });
  }
  return y;
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("sub", [a, b], "a - b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "sub",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? gradTo(g, a.shape) : null,
        b.requiresGrad ? reduceOwned(elementwise("neg", [g], "-a"), b.shape) : null,
      ],
    });
  }
  return y;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("mul", [a, b], "a * b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "mul",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? productGrad(g, b, a.shape, "a * b") : null,
        b.requiresGrad ? productGrad(g, a, b.shape, "a * b") : null,
      ],
    });
  }
  return y;
}

export function div(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("div", [a, b], "a / b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "div",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? productGrad(g, b, a.shape, "a / b") : null,
        b.requiresGrad
          ? reduceOwned(elementwise("div_grad_b", [g, a, b], "-a * b / (c * c)"), b.shape)
          : null,
      ],
    });
  }
  return y;
}

/** Element-wise maximum; the gradient goes to `a` where a >= b, else to `b`. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("maximum", [a, b], "max(a, b)");
  if (needsGrad(a, b)) {
    record(y, {
      name: "maximum",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad
          ? reduceOwned(elementwise("max_grad_a", [g, a, b], "select(0.0, a, b >= c)"), a.shape)
          : null,
        b.requiresGrad
          ? reduceOwned(elementwise("max_grad_b", [g, a, b], "select(a, 0.0, b >= c)"), b.shape)
          : null,
      ],
    });
  }
  return y;
}

/** g ⊙ other, summed down to `shape` (the gradient of a product w.r.t. one factor). */
function productGrad(g: Tensor, other: Tensor, shape: readonly number[], expr: string): Tensor {
  return reduceOwned(elementwise("mul_grad", [g, other], expr), shape);
}

/**
 * The incoming gradient reduced to `shape`; returns `g` itself when no reduction is needed (autograd
 * handles a node returning its incoming gradient, or one tensor for two inputs, without copying).
 */
export function gradTo(g: Tensor, shape: readonly number[]): Tensor {
  return sameShape(g.shape, shape) ? g : sumTo(g, shape);
}

/** Sums the temporary `t` down to `shape`, disposing it when a new tensor results. */
function reduceOwned(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} must be equal.`);
  }
}
