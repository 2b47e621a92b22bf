//! The small ops of the DeepSeek2 graph, one namespace per op (MLA_SPEC §1.4-1.9). Each op has
//! `Args` and `compute(args, pool, ith, nth)`; the graph executor and root.zig import them here.
pub const rms_norm = @import("ops/rms_norm.zig");
pub const rope = @import("ops/rope.zig");
pub const softmax = @import("ops/softmax.zig");
pub const top_k = @import("ops/top_k.zig");
pub const moe_route = @import("ops/moe_route.zig");
pub const silu_mul = @import("ops/silu_mul.zig");
pub const add_scale = @import("ops/add_scale.zig");
pub const get_rows = @import("ops/get_rows.zig");
pub const vec_math = @import("ops/vec_math.zig");
pub const split = @import("ops/split.zig");

const ThreadPool = @import("ThreadPool.zig");

/// Runs one op's `compute` on every thread of `pool` (standalone use: exports, tests, benches;
/// the graph executor calls `compute` directly inside its own task).
pub fn runStandalone(comptime Op: type, pool: *ThreadPool, args: *const Op.Args) void {
    pool.runOp(Op, args);
}

test {
    @import("std").testing.refAllDecls(@This());
}
