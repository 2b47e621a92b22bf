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
    /// Internal (never in files): Q4_0 rows in the per-row x4 layout (quants/x4.zig), the tail
    /// rows of q4_0_r8 and the baseline benches compare it with.
    q4_0_x4 = repacked_offset + 2,
    /// Internal (never in files): IQ4_NL rows in the x4 layout (quants/x4.zig).
    iq4_nl_x4 = repacked_offset + 20,
    /// Internal: Q4_0 matrices repacked by `repackRows` (quants/r8.zig, 8 rows interleaved).
    q4_0_r8 = grouped_offset + 2,
    /// Internal: IQ4_NL matrices repacked by `repackRows` (quants/r8.zig).
    iq4_nl_r8 = grouped_offset + 20,
    /// Internal: Q4_K matrices repacked by `repackRows` (quants/q4_k_r8.zig).
    q4_k_r8 = grouped_offset + 12,
    /// Internal: Q5_0 matrices repacked by `repackRows` (quants/q5_0_r8.zig).
    q5_0_r8 = grouped_offset + 6,
    /// Internal: Q6_K matrices repacked by `repackRows` (quants/q6_k_r8.zig).
    q6_k_r8 = grouped_offset + 14,
    /// Internal: Q8_0 matrices repacked by `repackRows` (quants/q8_0_r8.zig).
    q8_0_r8 = grouped_offset + 8,
    /// Internal: Q5_K matrices repacked by `repackRows` (quants/q5_k_r8.zig).
    q5_k_r8 = grouped_offset + 13,
    /// Internal: Q5_1 matrices repacked by `repackRows` (quants/q5_0_r8.zig).
    q5_1_r8 = grouped_offset + 7,
};

/// Internal ids of the per-row x4 layouts are the file type's id plus this.
pub const repacked_offset: u32 = 1000;
/// Internal ids of the 8-row interleaved r8 layouts are the file type's id plus this.
pub const grouped_offset: u32 = 2000;

/// What a type's dot product multiplies its weights with.
pub const Activation = enum {
    /// The f32 row itself (F32 and F16 weights).
    f32,
    /// The f32 row in BF16's split order (float.splitPosition: each whole 16 elements evens
    /// first, then odds), copied into the scratch.
    f32_split16,
    /// BlockQ8A, 32 elements per 40 bytes.
    q8a,
    /// BlockQ8K, 256 elements per 292 bytes.
    q8k,
    /// Q8A's bytes, pair-bounded scale (common.zig): IQ4_NL's unsigned-codebook kernels.
    q8p,

    /// Elements per activation block.
    pub fn blockElements(self: Activation) usize {
        return switch (self) {
            .f32, .f32_split16 => 1,
            .q8a, .q8p => 32,
            .q8k => 256,
        };
    }

    /// Bytes of one activation row of `k` elements (k a multiple of blockElements()).
    pub fn rowBytes(self: Activation, k: usize) usize {
        return switch (self) {
            .f32, .f32_split16 => k * 4,
            .q8a, .q8p => k / 32 * @sizeOf(BlockQ8A),
            .q8k => k / 256 * @sizeOf(BlockQ8K),
        };
    }

    /// Elements from which a row can be quantized in independent pieces: whole Q8A groups (4
    /// blocks, whose scales sit together), Q8_K blocks, or the split order's 16. A piece
    /// starting at a multiple of this lands at `dst + rowBytes(start)`.
    pub fn pieceElements(self: Activation) usize {
        return switch (self) {
            .f32 => 1,
            .f32_split16 => 16,
            .q8a, .q8p => 4 * 32,
            .q8k => 256,
        };
    }

    /// Quantizes one f32 row into this format at `dst` (f32: a copy).
    pub fn quantizeRow(self: Activation, x: []const f32, dst: [*]u8) void {
        switch (self) {
            .f32 => @memcpy(dst[0 .. x.len * 4], std.mem.sliceAsBytes(x)),
            .f32_split16 => float.splitRow(x, dst),
            .q8a => common.quantizeRowQ8A(x, dst),
            .q8p => common.quantizeRowQ8P(x, dst),
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
    /// Tokens from which a tile goes to `gemm_tile`: below, its panel decode is not amortised
    /// and the dots (4 tokens per weight decode) are faster. Per-row layouts: 8 (per core on
    /// 2048×1408, GEMM against dots in GOP/s: t=4 Q4_K 51/68, Q8_0 34/60, IQ4_NL_X4 36/65; t=8
    /// 76/80, 66/67, 73/63; t=16 GEMM ahead for all). The r8 layouts with a tile set their own
    /// (groupedTraitsOf lists them): Q5_0_R8 and Q5_1_R8 128 (their dots need no decode beyond
    /// the GEMV's), Q6_K_R8 96, Q5_K_R8 48, IQ4_NL_R8 32, Q8_0_R8 16; Q8_0's file rows 16 too.
    gemm_tokens_min: usize = 8,
    /// Rows interleaved together (r8 layouts: 8). Above 1, single rows are not addressable:
    /// `dots`, `dequantizeRow` and `quantizeRow` do not apply, callers go through `rowsDot`
    /// and GEMM tiles with row ranges starting at multiples of group_rows.
    group_rows: usize = 1,
    /// The layout's own row-range dot products (null: `rowsDot` loops over `dots`).
    rows_dots: ?[ncols_max]RowsDotFn = null,

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

/// `y[c·y_stride + (r − r0)] = row r · activation row c` for rows [r0, r1) of a matrix of
/// `n_rows` rows at `w` and c < ncols (1..ncols_max): the way matmul and moe multiply a chunk of
/// rows, whatever the layout. r0 must be a multiple of traits.group_rows.
pub inline fn rowsDot(type_traits: *const Traits, ncols: usize, w: [*]const u8, row_bytes: usize, n_rows: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    std.debug.assert(r0 % type_traits.group_rows == 0);
    if (type_traits.rows_dots) |fns| return fns[ncols - 1](w, row_bytes, n_rows, r0, r1, act, act_stride, k, y, y_stride);
    r8.perRowRange(type_traits.dots[ncols - 1], ncols, w, row_bytes, r0, r1, act, act_stride, k, y, y_stride);
}

/// Rows per work chunk, rounded up to whole groups of the type's interleaved rows.
pub fn alignRows(type_traits: *const Traits, rows: usize) usize {
    return std.mem.alignForward(usize, rows, type_traits.group_rows);
}

fn traitsOf(comptime Module: type, activation: Activation) Traits {
    var t: Traits = .{
        .block_elements = Module.block_elements,
        .block_bytes = Module.block_bytes,
        .activation = activation,
        .dots = Module.dots,
        .dequantizeRow = Module.dequantizeRow,
        .quantizeRow = Module.quantizeRow,
        .gemm_tile = gemmTileOf(Module),
    };
    if (@hasDecl(Module, "gemm_tokens_min")) t.gemm_tokens_min = Module.gemm_tokens_min;
    if (@hasDecl(Module, "rows_dots")) t.rows_dots = Module.rows_dots;
    return t;
}

fn gemmTileOf(comptime Module: type) ?gemm32.GemmTileFn {
    if (@hasDecl(Module, "gemmTile")) return Module.gemmTile;
    // The file-layout 32-block types (Q8_0, Q4_0, IQ4_NL) get theirs from the shared engine.
    if (@hasDecl(Module, "unsigned_quants")) return block32.Engine(Module).gemmTile;
    return null;
}

const table_f32 = traitsOf(float.F32, .f32);
const table_f16 = traitsOf(float.F16, .f32);
const table_bf16 = traitsOf(float.BF16, .f32_split16);
const table_q8_0 = traitsOf(@import("q8_0.zig"), .q8a);
const table_q4_0 = traitsOf(@import("q4_0.zig"), .q8a);
const table_q5_0 = traitsOf(@import("q5_0.zig"), .q8a);
const table_q4_1 = traitsOf(@import("q4_1.zig"), .q8a);
const table_q5_1 = traitsOf(@import("q5_1.zig"), .q8a);
const table_iq4_nl = traitsOf(@import("iq4_nl.zig"), .q8p);
const table_q4_k = traitsOf(@import("q4_k.zig"), .q8k);
const table_q5_k = traitsOf(@import("q5_k.zig"), .q8k);
const table_q6_k = traitsOf(@import("q6_k.zig"), .q8k);
const table_iq4_xs = traitsOf(@import("iq4_xs.zig"), .q8k);
const x4 = @import("x4.zig");
const Q4_0X4 = x4.X4(@import("q4_0.zig"));
const IQ4_NLX4 = x4.X4(@import("iq4_nl.zig"));
const table_q4_0_x4 = traitsOf(Q4_0X4, .q8a);
const table_iq4_nl_x4 = traitsOf(IQ4_NLX4, .q8p);
const r8 = @import("r8.zig");
pub const RowsDotFn = r8.RowsDotFn;
const Q4_0R8 = r8.R8(@import("q4_0.zig"));
const IQ4_NLR8 = r8.R8(@import("iq4_nl.zig"));

/// `t` with its GEMM tile dropped: every token count goes through its row-range dots.
fn withoutTile(t: Traits) Traits {
    var copy = t;
    copy.gemm_tile = null;
    return copy;
}

/// An r8 layout: grouped rows; the per-row entries are those of the layout its trailing n mod 8
/// rows keep (x4 for IQ4_NL and Q4_0, the file's for the others), which callers never reach for
/// grouped rows (group_rows > 1 tells them). Q4_0_R8 and Q4_K_R8 have no GEMM tile: their
/// row-range dots, 4 tokens per decoded block, beat every tile at every token count (per core
/// on 2048×1408, in GOP/s, dots against the tile: Q4_0_R8 155/126 at t=512 and 168/93 at t=16,
/// against the unsigned panel 176/134 at t=256; Q4_K_R8 142–147/127–129 at t=512). The other r8
/// layouts keep a tile, from `gemm_tokens_min` tokens (Q8_0_R8 16, IQ4_NL_R8 32, Q5_K_R8 48,
/// Q6_K_R8 96, Q5_0_R8 and Q5_1_R8 128).
fn groupedTraitsOf(comptime Module: type, comptime TailRows: type, activation: Activation) Traits {
    var t = traitsOf(TailRows, activation);
    t.gemm_tile = if (@hasDecl(Module, "gemmTile")) Module.gemmTile else null;
    if (@hasDecl(Module, "gemm_tokens_min")) t.gemm_tokens_min = Module.gemm_tokens_min;
    t.group_rows = r8.group_rows;
    t.rows_dots = Module.rows_dots;
    return t;
}
const Q4_KR8 = @import("q4_k_r8.zig");
const table_q4_0_r8 = withoutTile(groupedTraitsOf(Q4_0R8, Q4_0X4, .q8a));
const table_iq4_nl_r8 = groupedTraitsOf(IQ4_NLR8, IQ4_NLX4, .q8p);
const table_q4_k_r8 = groupedTraitsOf(Q4_KR8, @import("q4_k.zig"), .q8k);
const Q5_0R8 = @import("q5_0_r8.zig").Q5_0;
const table_q5_0_r8 = groupedTraitsOf(Q5_0R8, @import("q5_0.zig"), .q8a);
const Q5_1R8 = @import("q5_0_r8.zig").Q5_1;
const table_q5_1_r8 = groupedTraitsOf(Q5_1R8, @import("q5_1.zig"), .q8a);
const Q6_KR8 = @import("q6_k_r8.zig");
const table_q6_k_r8 = groupedTraitsOf(Q6_KR8, @import("q6_k.zig"), .q8k);
const Q8_0R8 = @import("q8_0_r8.zig");
const table_q8_0_r8 = groupedTraitsOf(Q8_0R8, @import("q8_0.zig"), .q8a);
const Q5_KR8 = @import("q5_k_r8.zig");
const table_q5_k_r8 = groupedTraitsOf(Q5_KR8, @import("q5_k.zig"), .q8k);

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
        .q4_0_r8 => &table_q4_0_r8,
        .iq4_nl_r8 => &table_iq4_nl_r8,
        .q4_k_r8 => &table_q4_k_r8,
        .q5_0_r8 => &table_q5_0_r8,
        .q6_k_r8 => &table_q6_k_r8,
        .q8_0_r8 => &table_q8_0_r8,
        .q5_k_r8 => &table_q5_k_r8,
        .q5_1_r8 => &table_q5_1_r8,
    };
}

/// The internal id of the faster repacked layout of file type `type_id`, or null if it has none.
pub fn repackedType(type_id: u32) ?u32 {
    return switch (std.meta.intToEnum(Type, type_id) catch return null) {
        .q4_0, .iq4_nl, .q4_k, .q5_0, .q5_1, .q5_k, .q6_k, .q8_0 => type_id + grouped_offset,
        else => null,
    };
}

/// Repacks one matrix of `n_rows` rows of `k` elements of file type `type_id` (rows `row_bytes`
/// apart in both buffers) into the layout of repackedType(type_id): groups of 8 rows from row
/// 0, so a stacked tensor is repacked one matrix (expert) at a time. Returns false if the type
/// has none.
pub fn repackRows(type_id: u32, src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) bool {
    switch (std.meta.intToEnum(Type, type_id) catch return false) {
        .q4_0 => Q4_0R8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .iq4_nl => IQ4_NLR8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q4_k => Q4_KR8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q5_0 => Q5_0R8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q6_k => Q6_KR8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q8_0 => Q8_0R8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q5_k => Q5_KR8.repackMatrix(src, dst, row_bytes, k, n_rows),
        .q5_1 => Q5_1R8.repackMatrix(src, dst, row_bytes, k, n_rows),
        else => return false,
    }
    return true;
}

test {
    _ = common;
    _ = @import("prefetch.zig");
    _ = @import("kblock.zig");
    _ = @import("x4.zig");
    _ = r8;
    _ = Q4_KR8;
    _ = @import("q5_0_r8.zig");
    _ = Q6_KR8;
    _ = Q8_0R8;
    _ = Q5_KR8;
    _ = gemm32;
}

test "a module's gemm_tokens_min reaches its traits (Q8_0's file rows take their tile from 16 tokens)" {
    try std.testing.expectEqual(@as(usize, 16), traits(@intFromEnum(Type.q8_0)).?.gemm_tokens_min);
    try std.testing.expectEqual(@as(usize, 16), traits(@intFromEnum(Type.q8_0_r8)).?.gemm_tokens_min);
    try std.testing.expectEqual(@as(usize, 32), traits(@intFromEnum(Type.iq4_nl_r8)).?.gemm_tokens_min);
    try std.testing.expectEqual(@as(usize, 96), traits(@intFromEnum(Type.q6_k_r8)).?.gemm_tokens_min);
    try std.testing.expect(traits(@intFromEnum(Type.q4_0_r8)).?.gemm_tile == null);
}

test "every type: SIMD and scalar dots match the dequantized weights times dequantized activations" {
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
        // Grouped layouts have no single rows (r8.zig tests them against x4 rows).
        if (t.group_rows == 1) try expectRowKernelsMatch(field.name, t, &w_f32, &x);
    }
}

fn expectRowKernelsMatch(name: []const u8, t: *const Traits, w_f32: *const [512]f32, x: *const [4][512]f32) !void {
    const cpu_path = @import("../cpu_path.zig");
    const k = 512;
    {
        var weight: [k * 4]u8 = undefined;
        t.quantizeRow(w_f32, &weight);
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
                .f32, .f32_split16 => act_deq[c] = x[c],
                .q8a, .q8p => for (0..k / 32) |b| {
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
                        std.debug.print("type {s} ncols {} simd {} col {}: got {} expected {}\n", .{ name, ncols, use_simd, c, out[c], expected });
                        return err;
                    };
                }
            }
        }
        cpu_path.use_simd.store(true, .monotonic);
    }
}
