// Random K/V rows generated on the GPU (the bench never builds large caches on the host): element i
// of a [token][kvHead][headDim] block is a standard normal from a hashed (seed, i) Box-Muller pair;
// for i < cfg.outlier_limit (the key rows) and cfg.outlier_every = p > 0, channels c with c % p == 3
// are outlier channels (x * 8 + 4), the structure of real keys that per-channel (KIVI keys) and
// reordering (SKVQ) quantizers exploit.
struct Cfg {
  seed: u32,
  count: u32,
  head_dim: u32,
  outlier_every: u32,
  outlier_limit: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> rows: array<f32>;
@group(0) @binding(1) var<storage, read> cfg: Cfg;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  let key = pcg(cfg.seed);
  for (var i = gid.x; i < cfg.count; i = i + stride) {
    let a = pcg(i ^ key);
    let b = pcg(a ^ 0x9e3779b9u);
    let u1 = (f32(a >> 8u) + 0.5) / 16777216.0;
    let u2 = f32(b >> 8u) / 16777216.0;
    var x = sqrt(-2.0 * log(u1)) * cos(6.2831853 * u2);
    if (cfg.outlier_every != 0u && i < cfg.outlier_limit && (i % cfg.head_dim) % cfg.outlier_every == 3u) {
      x = x * 8.0 + 4.0;
    }
    rows[i] = x;
  }
}
