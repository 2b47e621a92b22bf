//! SwiGLU's element-wise half: dst = silu(gate) ⊙ up, silu(x) = x / (1 + e^-x)
//! (MLA_SPEC §1.4 step 9 and §1.9 step 7). dst may alias gate or up.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const vm = @import("vec_math.zig");
const split = @import("split.zig");

/// One node over `n_rows × width` values; each operand has its own row stride.
pub const Args = struct {
    gate: [*]const f32,
    up: [*]const f32,
    dst: [*]f32,
    gate_row_stride: usize,
    up_row_stride: usize,
    dst_row_stride: usize,
    n_rows: usize,
    width: usize,
};

/// Rows split over threads, or column blocks of the one row at token generation.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    const s = split.span(args.n_rows, args.width, ith, nth);
    if (s.col_start >= s.col_end) return;
    const simd = cpu_path.simd();
    for (s.row_start..s.row_end) |row| {
        const n = s.col_end - s.col_start;
        const gate = args.gate[row * args.gate_row_stride + s.col_start ..][0..n];
        const up = args.up[row * args.up_row_stride + s.col_start ..][0..n];
        const dst = args.dst[row * args.dst_row_stride + s.col_start ..][0..n];
        if (simd) rowSimd(gate, up, dst) else rowScalar(gate, up, dst);
    }
}

fn rowScalar(gate: []const f32, up: []const f32, dst: []f32) void {
    for (dst, gate, up) |*y, g, u| y.* = g / (1.0 + @exp(-g)) * u;
}

fn rowSimd(gate: []const f32, up: []const f32, dst: []f32) void {
    const one: vm.F32x8 = @splat(1.0);
    var i: usize = 0;
    while (i + 8 <= dst.len) : (i += 8) {
        const g = vm.load(gate, i);
        vm.store(dst, i, g / (one + vm.exp(-g)) * vm.load(up, i));
    }
    if (i < dst.len) rowScalar(gate[i..], up[i..], dst[i..]);
}
