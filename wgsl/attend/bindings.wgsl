// Pipeline constants and bindings of the tile-attention kernels that are not tiles.wgsl (the
// folded drivers, attend/fold*.wgsl, and the matrix kernel, attend/mx-kivi.wgsl): the same
// names, so tiles.wgsl's pipeline constants and bind group layout apply unchanged.

override HEAD_DIM: u32;
override N_HEADS: u32;
override GROUP: u32;
// unused by some kernels; declared so every pipeline constant applies
override LANES: u32 = 4u;
override HEAD_STRIDE: u32;
override V_OFFSET: u32;
override K_BITS: u32 = 0u;
override V_BITS: u32 = 0u;
override K_PARAMS: u32 = 0u;
override V_PARAMS: u32 = 0u;

@group(0) @binding(0) var<storage, read> pages: array<u32>;
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
