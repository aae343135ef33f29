/** Philox4x32-10 in WGSL: the GPU side of ../rng.ts, which reproduces its numbers on the host. */
export const PHILOX_WGSL = `
fn mulhilo(a: u32, b: u32) -> vec2u {
  let aH = a >> 16u; let aL = a & 0xffffu; let bH = b >> 16u; let bL = b & 0xffffu;
  let mid1 = aH * bL; let mid2 = aL * bH; let low = aL * bL;
  let carry = ((low >> 16u) + (mid1 & 0xffffu) + (mid2 & 0xffffu)) >> 16u;
  return vec2u(aH * bH + (mid1 >> 16u) + (mid2 >> 16u) + carry, a * b);
}
fn philox(c_in: vec4u, k_in: vec2u) -> vec4u {
  var c = c_in; var k = k_in;
  for (var r = 0u; r < 10u; r++) {
    let p0 = mulhilo(0xd2511f53u, c.x);
    let p1 = mulhilo(0xcd9e8d57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}
fn philox_uniform(seed: u32, offset: u32, i: u32) -> f32 {
  let w = philox(vec4u(i >> 2u, offset, 0u, 0u), vec2u(seed, 0x5eedu));
  return f32(w[i & 3u] >> 8u) * (1.0 / 16777216.0);
}
fn philox_normal(seed: u32, offset: u32, i: u32) -> f32 {
  let w = philox(vec4u(i, offset, 1u, 0u), vec2u(seed, 0x5eedu));
  let u1 = f32((w.x >> 8u) + 1u) * (1.0 / 16777216.0);
  let u2 = f32(w.y >> 8u) * (1.0 / 16777216.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}`;
