//! The dispatch table by ggml type id: block geometry, the activation format a type's dot
//! product consumes, and its row kernels. Matmuls and the graph executor look types up here once
//! per op, then call the function pointers per row.
const std = @import("std");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const float = @import("float.zig");
const gemm32 = @import("gemm32.zig");

pub const DotFn = block32.DotFn;
pub const ncols_max = block32.ncols_max;
pub const BlockQ8A = common.BlockQ8A;
pub const BlockQ8K = common.BlockQ8K;

/// Weight types with kernels, by ggml id.
pub const Type = enum(u32) {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    iq4_nl = 20,
    iq4_xs = 23,
    bf16 = 30,
    /// Internal (never in files): Q4_0 rows repacked by `repackRows` (quants/x4.zig).
    q4_0_x4 = repacked_offset + 2,
    /// Internal (never in files): IQ4_NL rows repacked by `repackRows` (quants/x4.zig).
    iq4_nl_x4 = repacked_offset + 20,
};

/// Internal ids of repacked layouts are the file type's id plus this.
pub const repacked_offset: u32 = 1000;

/// What a type's dot product multiplies its weights with.
pub const Activation = enum {
    /// The f32 row itself (float weight types).
    f32,
    /// BlockQ8A, 32 elements per 40 bytes.
    q8a,
    /// BlockQ8K, 256 elements per 292 bytes.
    q8k,

    /// Elements per activation block.
    pub fn blockElements(self: Activation) usize {
        return switch (self) {
            .f32 => 1,
            .q8a => 32,
            .q8k => 256,
        };
    }

    /// Bytes of one activation row of `k` elements (k a multiple of blockElements()).
    pub fn rowBytes(self: Activation, k: usize) usize {
        return switch (self) {
            .f32 => k * 4,
            .q8a => k / 32 * @sizeOf(BlockQ8A),
            .q8k => k / 256 * @sizeOf(BlockQ8K),
        };
    }

    /// Quantizes one f32 row into this format at `dst` (f32: a copy).
    pub fn quantizeRow(self: Activation, x: []const f32, dst: [*]u8) void {
        switch (self) {
            .f32 => @memcpy(dst[0 .. x.len * 4], std.mem.sliceAsBytes(x)),
            .q8a => common.quantizeRowQ8A(x, dst),
            .q8k => common.quantizeRowQ8K(x, dst),
        }
    }
};

/// Everything the kernels need to know about one weight type.
pub const Traits = struct {
    block_elements: usize,
    block_bytes: usize,
    activation: Activation,
    /// Dot products for 1..ncols_max activation rows, indexed by ncols − 1.
    dots: [ncols_max]DotFn,
    dequantizeRow: *const fn (src: [*]const u8, dst: []f32) void,
    quantizeRow: *const fn (x: []const f32, dst: [*]u8) void,
    /// The GEMM tile kernel for many tokens (gemm32.GemmTileFn), or null: matmul then tiles
    /// the dots.
    gemm_tile: ?gemm32.GemmTileFn = null,

    /// Bytes of a row of `k` elements.
    pub fn rowBytes(self: *const Traits, k: usize) usize {
        std.debug.assert(k % self.block_elements == 0);
        return k / self.block_elements * self.block_bytes;
    }

    /// Whether a row of `k` elements is a whole number of weight and activation blocks.
    pub fn rowLengthValid(self: *const Traits, k: usize) bool {
        return k > 0 and k % self.block_elements == 0 and k % self.activation.blockElements() == 0;
    }
};

fn traitsOf(comptime Module: type, activation: Activation) Traits {
    return .{
        .block_elements = Module.block_elements,
        .block_bytes = Module.block_bytes,
        .activation = activation,
        .dots = Module.dots,
        .dequantizeRow = Module.dequantizeRow,
        .quantizeRow = Module.quantizeRow,
        .gemm_tile = gemmTileOf(Module),
    };
}

fn gemmTileOf(comptime Module: type) ?gemm32.GemmTileFn {
    if (@hasDecl(Module, "gemmTile")) return Module.gemmTile;
    // The file-layout 32-block types (Q8_0, Q4_0, IQ4_NL) get theirs from the shared engine.
    if (@hasDecl(Module, "unsigned_quants")) return block32.Engine(Module).gemmTile;
    return null;
}

const table_f32 = traitsOf(float.F32, .f32);
const table_f16 = traitsOf(float.F16, .f32);
const table_bf16 = traitsOf(float.BF16, .f32);
const table_q8_0 = traitsOf(@import("q8_0.zig"), .q8a);
const table_q4_0 = traitsOf(@import("q4_0.zig"), .q8a);
const table_q5_0 = traitsOf(@import("q5_0.zig"), .q8a);
const table_q4_1 = traitsOf(@import("q4_1.zig"), .q8a);
const table_q5_1 = traitsOf(@import("q5_1.zig"), .q8a);
const table_iq4_nl = traitsOf(@import("iq4_nl.zig"), .q8a);
const table_q4_k = traitsOf(@import("q4_k.zig"), .q8k);
const table_q5_k = traitsOf(@import("q5_k.zig"), .q8k);
const table_q6_k = traitsOf(@import("q6_k.zig"), .q8k);
const table_iq4_xs = traitsOf(@import("iq4_xs.zig"), .q8k);
const x4 = @import("x4.zig");
const Q4_0X4 = x4.X4(@import("q4_0.zig"));
const IQ4_NLX4 = x4.X4(@import("iq4_nl.zig"));
const table_q4_0_x4 = traitsOf(Q4_0X4, .q8a);
const table_iq4_nl_x4 = traitsOf(IQ4_NLX4, .q8a);

/// The traits of a ggml type id, or null when this library has no kernels for it.
pub fn traits(type_id: u32) ?*const Traits {
    const t = std.meta.intToEnum(Type, type_id) catch return null;
    return switch (t) {
        .f32 => &table_f32,
        .f16 => &table_f16,
        .bf16 => &table_bf16,
        .q8_0 => &table_q8_0,
        .q4_0 => &table_q4_0,
        .q5_0 => &table_q5_0,
        .q4_1 => &table_q4_1,
        .q5_1 => &table_q5_1,
        .iq4_nl => &table_iq4_nl,
        .q4_k => &table_q4_k,
        .q5_k => &table_q5_k,
        .q6_k => &table_q6_k,
        .iq4_xs => &table_iq4_xs,
        .q4_0_x4 => &table_q4_0_x4,
        .iq4_nl_x4 => &table_iq4_nl_x4,
    };
}

/// The internal id of the faster repacked layout of file type `type_id`, or null if it has none.
pub fn repackedType(type_id: u32) ?u32 {
    return switch (std.meta.intToEnum(Type, type_id) catch return null) {
        .q4_0, .iq4_nl => type_id + repacked_offset,
        else => null,
    };
}

/// Repacks `n_rows` rows of `k` elements of file type `type_id` (rows `row_bytes` apart in both
/// buffers) into the layout of repackedType(type_id). Returns false if the type has none.
pub fn repackRows(type_id: u32, src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) bool {
    const repack: *const fn ([*]const u8, [*]u8, usize) void = switch (std.meta.intToEnum(Type, type_id) catch return false) {
        .q4_0 => Q4_0X4.repackRow,
        .iq4_nl => IQ4_NLX4.repackRow,
        else => return false,
    };
    for (0..n_rows) |r| repack(src + r * row_bytes, dst + r * row_bytes, k);
    return true;
}

test {
    _ = common;
    _ = @import("kblock.zig");
    _ = @import("x4.zig");
    _ = gemm32;
}

test "every type: SIMD and scalar dots match the dequantized weights times dequantized activations" {
    const cpu_path = @import("../cpu_path.zig");
    const k = 512;
    var prng = std.Random.DefaultPrng.init(11);
    const random = prng.random();
    var x: [4][k]f32 = undefined;
    var w_f32: [k]f32 = undefined;
    for (&w_f32) |*v| v.* = random.floatNorm(f32);
    for (&x) |*row| for (row) |*v| {
        v.* = random.floatNorm(f32);
    };
    inline for (std.meta.fields(Type)) |field| {
        const t = traits(field.value).?;
        var weight: [k * 4]u8 = undefined;
        t.quantizeRow(&w_f32, &weight);
        var w_deq: [k]f32 = undefined;
        t.dequantizeRow(&weight, &w_deq);
        // Round trip: 4-bit types are coarse, but every element must land near its source.
        for (w_f32, w_deq) |a, b| try std.testing.expect(@abs(a - b) < 0.7);
        var act: [4][k * 4 + 64]u8 align(8) = undefined;
        var act_deq: [4][k]f32 = undefined;
        const stride = act[0].len;
        for (0..4) |c| {
            t.activation.quantizeRow(&x[c], &act[c]);
            switch (t.activation) {
                .f32 => act_deq[c] = x[c],
                .q8a => for (0..k / 32) |b| {
                    const blk = common.activationBlock(@as([*]const u8, &act[c]), b, k / 32 / 4 * 4);
                    for (0..32) |i| act_deq[c][b * 32 + i] = blk.d * @as(f32, @floatFromInt(blk.q[i]));
                },
                .q8k => for (0..k / 256) |b| {
                    const blk = common.q8k(@as([*]const u8, &act[c]) + b * 292);
                    for (0..256) |i| act_deq[c][b * 256 + i] = blk.d * @as(f32, @floatFromInt(blk.q[i]));
                },
            }
        }
        for (1..ncols_max + 1) |ncols| {
            for ([_]bool{ true, false }) |use_simd| {
                cpu_path.use_simd.store(use_simd, .monotonic);
                var out: [4]f32 = undefined;
                t.dots[ncols - 1](&weight, @ptrCast(&act), stride, k, &out);
                for (0..ncols) |c| {
                    var expected: f64 = 0;
                    var magnitude: f64 = 0;
                    for (w_deq, act_deq[c]) |a, b| {
                        expected += @as(f64, a) * b;
                        magnitude += @abs(@as(f64, a) * b);
                    }
                    std.testing.expect(@abs(out[c] - expected) <= 1e-5 * magnitude + 1e-6) catch |err| {
                        std.debug.print("type {s} ncols {} simd {} col {}: got {} expected {}\n", .{ field.name, ncols, use_simd, c, out[c], expected });
                        return err;
                    };
                }
            }
        }
        cpu_path.use_simd.store(true, .monotonic);
    }
}
