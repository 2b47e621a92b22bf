//! Element-wise helpers the graph needs between matmuls: the residual add, scaling, the MoE
//! accumulate (a + s·b) and strided copies (a concat is two copies into sub-ranges of dst rows).
//! dst may alias a or b.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const vm = @import("vec_math.zig");
const split = @import("split.zig");

/// What each element becomes.
pub const Op = enum(u32) {
    /// dst = a + b
    add = 0,
    /// dst = s · a
    scale = 1,
    /// dst = a + s · b
    add_scaled = 2,
    /// dst = a
    copy = 3,
};

/// One node over `n_rows × width` values; `b` is unused (may be undefined) for scale and copy.
pub const Args = struct {
    op: Op,
    a: [*]const f32,
    b: [*]const f32,
    dst: [*]f32,
    a_row_stride: usize,
    b_row_stride: usize,
    dst_row_stride: usize,
    n_rows: usize,
    width: usize,
    s: f32,
};

/// Rows split over threads, or column blocks of the one row at token generation.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    const sp = split.span(args.n_rows, args.width, ith, nth);
    if (sp.col_start >= sp.col_end) return;
    const simd = cpu_path.simd();
    const n = sp.col_end - sp.col_start;
    const uses_b = args.op == .add or args.op == .add_scaled;
    for (sp.row_start..sp.row_end) |row| {
        const a = args.a[row * args.a_row_stride + sp.col_start ..][0..n];
        const b = if (uses_b) args.b[row * args.b_row_stride + sp.col_start ..][0..n] else a;
        const dst = args.dst[row * args.dst_row_stride + sp.col_start ..][0..n];
        if (simd) rowSimd(args.op, a, b, dst, args.s) else rowScalar(args.op, a, b, dst, args.s);
    }
}

fn rowScalar(op: Op, a: []const f32, b: []const f32, dst: []f32, s: f32) void {
    switch (op) {
        .add => for (dst, a, b) |*y, x, z| {
            y.* = x + z;
        },
        .scale => for (dst, a) |*y, x| {
            y.* = s * x;
        },
        .add_scaled => for (dst, a, b) |*y, x, z| {
            y.* = x + s * z;
        },
        .copy => if (dst.ptr != a.ptr) std.mem.copyForwards(f32, dst, a),
    }
}

fn rowSimd(op: Op, a: []const f32, b: []const f32, dst: []f32, s: f32) void {
    const sv: vm.F32x8 = @splat(s);
    var i: usize = 0;
    switch (op) {
        .add => while (i + 8 <= dst.len) : (i += 8) vm.store(dst, i, vm.load(a, i) + vm.load(b, i)),
        .scale => while (i + 8 <= dst.len) : (i += 8) vm.store(dst, i, sv * vm.load(a, i)),
        // a + s·b without fusing: the scalar twin rounds s·b first, and so does ggml's add(a, scale(b)).
        .add_scaled => while (i + 8 <= dst.len) : (i += 8) vm.store(dst, i, vm.load(a, i) + sv * vm.load(b, i)),
        .copy => {},
    }
    rowScalar(op, a[i..], b[i..], dst[i..], s);
}
