//! GEMM tile kernel of the unsigned 32-element block types (Q4_0, Q5_0, Q5_1, IQ4_NL and the
//! x4 layouts) for many tokens at once (IQ4_NL_R8 and Q4_0_R8 need none: their row-range dots
//! are faster). A tile's weight rows are decoded once per K slice into a small panel laid out
//! for the kernel, so the decode cost is shared by every token of the tile; the GEMV keeps the
//! per-row dots of block32.zig.
//!
//! Unsigned 4/5-bit codes (Q4_0, Q5_0): vpmaddubsw(codes, activations) four times per block,
//! summed in 16 bits (|sum| ≤ 4·2·31·127 < 2^15), then one vpmaddwd: ~3 vector ops per 32
//! products. The offset (−8, −16) is applied per row through the activation block sums. IQ4_NL
//! (file and x4 layouts) uses it too, with its codebook shifted into [0, 240] (offset −127) and
//! Q8P activations: one vpmaddwd per vpmaddubsw, since only a single pair sum is bounded.
//!
//! Signed int8 weights (Q8_0, IQ4_XS) have their own tile, sign_xor_tile.zig, which replaced
//! this file's int16-widening kernel (vpmaddwd on widened weights and activations).
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const U32x8 = @Vector(8, u32);
const ones: I16x16 = @splat(1);

/// A GEMM tile: `y[t·y_row_stride + r] = Σ_k W[r][k]·act_t[k]` for r < n_rows (rows
/// `w_row_bytes` apart from `w`), t < n_tokens (activation rows in the type's format — Q8A here,
/// f32 for the float types of float.zig — `act_stride` bytes apart).
pub const GemmTileFn = *const fn (w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void;

/// Most blocks a decoder is asked for at once.
pub const decode_blocks_max = 32;

/// Scalar decoders' values (offset applied) → a panel's bytes: unsigned codes get the offset
/// removed again (Q4_0: v + 8 in [0, 15]), signed values are stored as i8.
pub fn storeCodes(values: [32]i32, comptime offset: f32, out: *[32]u8) void {
    const off: i32 = @intFromFloat(offset);
    for (values, out) |v, *o| o.* = @truncate(@as(u32, @bitCast(v - off)));
}

/// The GEMM tile kernel of a 32-block type. `Decoder` declares `unsigned_quants`, `offset`
/// (optionally `products_per_int16`, see Unsigned), and
/// `decodeBlocks(row, n_blocks_row, b0, q, d, off)`: blocks b0..b0+q.len of a row as 32 bytes
/// each (signed values, or unsigned codes without the offset), f32 scales, and the multiplier
/// of the activation block sum (offset·d), SIMD or scalar according to cpu_path (both give the
/// same bytes). b0 is a multiple of 4. A decoder may declare `decodeRowBlocks(w, w_row_bytes,
/// n_rows, r, …)` instead, row r of the tile's n_rows rows at w (Shifted does, so that it can
/// wrap decoders of either kind).
pub fn Gemm(comptime Decoder: type) type {
    if (Decoder.unsigned_quants) return Unsigned(Decoder, Q8aLayout);
    if (Decoder.unsigned_shift != 0) return Unsigned(Shifted(Decoder), Q8aLayout);
    @compileError("signed weights without an unsigned shift take sign_xor_tile.zig's tile");
}

/// A weight type's `unsigned_shift` (IQ4_NL's 127), or 0: a signed type's values v with
/// 0 ≤ v + shift ≤ 240 may take the unsigned kernel on v + shift, against Q8P activations.
pub fn unsignedShift(comptime Type: type) comptime_int {
    return if (@hasDecl(Type, "unsigned_shift")) Type.unsigned_shift else 0;
}

/// A signed decoder's values shifted into unsigned codes v + shift (≤ 240), the offset −shift
/// applied through the activation sums. Q8P activations keep every vpmaddubsw pair within
/// 240·136 < 2^15, but not two pairs, so each vpmaddubsw gets its own vpmaddwd.
fn Shifted(comptime Signed8: type) type {
    return struct {
        const shift = Signed8.unsigned_shift;
        comptime {
            std.debug.assert(!Signed8.unsigned_quants and Signed8.offset == 0 and shift > 0 and shift < 128);
        }
        pub const unsigned_quants = true;
        pub const offset: f32 = -@as(f32, shift);
        pub const products_per_int16 = 1;

        pub fn decodeRowBlocks(w: [*]const u8, w_row_bytes: usize, n_rows: usize, r: usize, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
            decodeRow(Signed8, w, w_row_bytes, n_rows, r, n_blocks, b0, q, d, off);
            for (q, d, off) |*codes, scale, *offset_mult| {
                codes.* = @bitCast(@as(I8x32, @bitCast(codes.*)) +% @as(I8x32, @splat(shift)));
                offset_mult.* = offset * scale;
            }
        }
    };
}

/// Sub-block b (32 elements) of a Q8_K activation row: its quants and the row block's scale
/// (expectTilesMatchDots' activations for IQ4_XS, whose tile is sign_xor_tile.zig's).
const Q8kSubBlocks = struct {
    fn block(row: [*]const u8, b: usize, n_blocks: usize) Block {
        _ = n_blocks;
        const a = common.q8k(row + b / 8 * @sizeOf(common.BlockQ8K));
        return .{ .d = a.d, .s = 0, .q = a.q[32 * (b % 8) ..][0..32] };
    }
};

/// Blocks b0..b0+q.len of row r of the `n_rows` rows at `w` through the decoder's entry point.
inline fn decodeRow(comptime Decoder: type, w: [*]const u8, w_row_bytes: usize, n_rows: usize, r: usize, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
    if (@hasDecl(Decoder, "decodeRowBlocks")) {
        Decoder.decodeRowBlocks(w, w_row_bytes, n_rows, r, n_blocks, b0, q, d, off);
    } else {
        Decoder.decodeBlocks(w + r * w_row_bytes, n_blocks, b0, q, d, off);
    }
}

/// Puts one row's 32 codes of a block into the 4 panel registers the unsigned kernels share
/// (here and in gemm_k.zig): register j holds codes 8j..8j+7 of rows 0..3, 8 bytes per row, so
/// one 8-byte broadcast of a token's activations meets all 4 rows in one vpmaddubsw.
pub inline fn interleaveRowCodes(regs: *[4]U8x32, r: usize, codes: *const [32]u8) void {
    inline for (0..4) |j| {
        const dst: *[32]u8 = @ptrCast(&regs[j]);
        dst[8 * r ..][0..8].* = codes[8 * j ..][0..8].*;
    }
}

inline fn readF32(p: [*]const u8) f32 {
    return @bitCast(std.mem.readInt(u32, p[0..4], .little));
}

/// Where block m of a group of 4 Q8A blocks keeps its quants, scale and sum (GroupQ8A), and
/// the single BlockQ8A that follow the last whole group.
const Q8aLayout = struct {
    const group_blocks = 4;
    const group_bytes = @sizeOf(common.GroupQ8A);
    const has_singles = true;
    inline fn q(group: [*]const u8, comptime m: usize) [*]const u8 {
        return group + 32 + 32 * m;
    }
    inline fn d(group: [*]const u8, comptime m: usize) f32 {
        return readF32(group + 4 * m);
    }
    inline fn s(group: [*]const u8, comptime m: usize) f32 {
        return readF32(group + 16 + 4 * m);
    }
    const Single = struct {
        const bytes = @sizeOf(common.BlockQ8A);
        inline fn q(one: [*]const u8, comptime _: usize) [*]const u8 {
            return one + 8;
        }
        inline fn d(one: [*]const u8, comptime _: usize) f32 {
            return readF32(one);
        }
        inline fn s(one: [*]const u8, comptime _: usize) f32 {
            return readF32(one + 4);
        }
    };
    /// Block b of a row (scalar paths).
    fn block(row: [*]const u8, b: usize, n_blocks: usize) Block {
        const a = common.activationBlock(row, b, n_blocks / 4 * 4);
        return .{ .d = a.d, .s = a.s, .q = a.q };
    }
};

const Block = struct { d: f32, s: f32, q: *align(1) const [32]i8 };

/// The unsigned-code kernel: 4 rows interleaved 8 bytes at a time, 4 tokens per register tile;
/// activations in `Layout` (Q8aLayout; the K-quants have their own kernel in gemm_k.zig).
fn Unsigned(comptime Decoder: type, comptime Layout: type) type {
    return struct {
        /// vpmaddubsw results of a block summed in 16 bits before one vpmaddwd: all 4 for codes
        /// ≤ 31 (4·2·31·127 < 2^15); a decoder with wider codes says how many fit
        /// (`products_per_int16`; Shifted's IQ4_NL codebook, ≤ 240 against Q8P pairs: 1).
        const products_per_int16: usize = if (@hasDecl(Decoder, "products_per_int16")) Decoder.products_per_int16 else 4;
        comptime {
            std.debug.assert(4 % products_per_int16 == 0);
        }
        /// Rows interleaved in one panel register.
        const rows = 4;
        /// Tokens per register tile (4 accumulators + 4 block sums stay in registers).
        const tile_tokens = 4;
        /// Blocks per panel: 32 blocks × 4 rows is 6 KiB, kept in L1 while the tokens stream.
        const slice_blocks = 32;
        /// Tokens whose accumulators are kept across K slices.
        const token_group = 128;

        /// Register j of block i holds codes 8j..8j+7 of rows 0..3 (8 bytes per row), so one
        /// 8-byte broadcast of a token's activations meets 4 rows and vpmaddwd leaves row r's
        /// partial sums in lanes 2r and 2r+1.
        const Panel = struct {
            w: [slice_blocks][4]U8x32 align(32),
            /// Row r's block scale in lanes 2r and 2r+1.
            d: [slice_blocks]F32x8 align(32),
            /// The decoder's offset multiplier of row r (offset·d, or −dmin·m) in lane 2r, 0 in
            /// lane 2r+1: applied once per row through the activation block sum s = d_a·Σq.
            d_offset: [slice_blocks]F32x8 align(32),
        };

        /// See GemmTileFn.
        pub fn tile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            std.debug.assert(k % 32 == 0 and n_rows > 0 and n_tokens > 0);
            const n_blocks = k / 32;
            const use_simd = cpu_path.simd();
            var panel: Panel = undefined;
            var acc: [token_group]F32x8 = undefined;
            var row: usize = 0;
            while (row < n_rows) : (row += rows) {
                const rows_here = @min(rows, n_rows - row);
                var token: usize = 0;
                while (token < n_tokens) : (token += token_group) {
                    const tokens_here = @min(token_group, n_tokens - token);
                    @memset(acc[0..tokens_here], @splat(0));
                    var b0: usize = 0;
                    while (b0 < n_blocks) : (b0 += slice_blocks) {
                        const count = @min(slice_blocks, n_blocks - b0);
                        buildPanel(&panel, w, w_row_bytes, n_rows, row, rows_here, n_blocks, b0, count);
                        const act_group = act + token * act_stride;
                        if (use_simd) {
                            sliceSimd(&panel, act_group, act_stride, tokens_here, n_blocks, b0, count, &acc);
                        } else {
                            sliceScalar(&panel, act_group, act_stride, tokens_here, n_blocks, b0, count, &acc);
                        }
                    }
                    for (0..tokens_here) |t| {
                        const out = y + (token + t) * y_row_stride + row;
                        for (0..rows_here) |r| out[r] = acc[t][2 * r] + acc[t][2 * r + 1];
                    }
                }
            }
        }

        /// Missing rows of a last partial group repeat row 0 (their outputs are never written).
        fn buildPanel(panel: *Panel, w: [*]const u8, w_row_bytes: usize, n_rows: usize, row: usize, rows_here: usize, n_blocks: usize, b0: usize, count: usize) void {
            var q: [slice_blocks][32]u8 align(32) = undefined;
            var d: [slice_blocks]f32 = undefined;
            var off: [slice_blocks]f32 = undefined;
            for (0..rows) |r| {
                const src_row = if (r < rows_here) r else 0;
                decodeRow(Decoder, w, w_row_bytes, n_rows, row + src_row, n_blocks, b0, q[0..count], d[0..count], off[0..count]);
                for (0..count) |i| {
                    interleaveRowCodes(&panel.w[i], r, &q[i]);
                    panel.d[i][2 * r] = d[i];
                    panel.d[i][2 * r + 1] = d[i];
                    panel.d_offset[i][2 * r] = off[i];
                    panel.d_offset[i][2 * r + 1] = 0;
                }
            }
        }

        fn sliceSimd(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, n_blocks: usize, b0: usize, count: usize, acc: *[token_group]F32x8) void {
            var t: usize = 0;
            while (t + tile_tokens <= n_tokens) : (t += tile_tokens) {
                tileSimd(tile_tokens, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..tile_tokens]);
            }
            switch (n_tokens - t) {
                0 => {},
                1 => tileSimd(1, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..1]),
                2 => tileSimd(2, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..2]),
                3 => tileSimd(3, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..3]),
                else => unreachable,
            }
        }

        /// 4 rows × `ncols` tokens over one panel. Blocks inside Q8A groups are addressed from
        /// the group's base with constant offsets (no per-block index arithmetic).
        inline fn tileSimd(comptime ncols: usize, panel: *const Panel, act: [*]const u8, act_stride: usize, n_blocks: usize, b0: usize, count: usize, acc_out: *[ncols]F32x8) void {
            @setEvalBranchQuota(20000); // the unrolled 4 or 8 blocks × 4 registers × ncols tokens
            const G = Layout.group_blocks;
            const n_full = n_blocks / G * G;
            var acc: [ncols]F32x8 = acc_out.*;
            var i: usize = 0;
            while (i + G <= count and b0 + i + G <= n_full) : (i += G) {
                var bases: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| bases[c] = act + c * act_stride + (b0 + i) / G * Layout.group_bytes;
                inline for (0..G) |m| {
                    var s_m: [ncols]f32 = undefined;
                    inline for (0..ncols) |c| s_m[c] = Layout.s(bases[c], m);
                    blockSimd(ncols, Layout, m, panel, i + m, bases, s_m, &acc);
                }
            }
            if (Layout.has_singles) {
                while (i < count) : (i += 1) {
                    var bases: [ncols][*]const u8 = undefined;
                    inline for (0..ncols) |c| bases[c] = act + c * act_stride + (b0 + i) * Layout.Single.bytes;
                    var s_m: [ncols]f32 = undefined;
                    inline for (0..ncols) |c| s_m[c] = Layout.Single.s(bases[c], 0);
                    blockSimd(ncols, Layout.Single, 0, panel, i, bases, s_m, &acc);
                }
            }
            std.debug.assert(i == count);
            acc_out.* = acc;
        }

        /// One block: token c's quants, scale and sum are block m of the group at bases[c].
        inline fn blockSimd(comptime ncols: usize, comptime L: type, comptime m: usize, panel: *const Panel, i: usize, bases: [ncols][*]const u8, sums: [ncols]f32, acc: *[ncols]F32x8) void {
            var p16: [ncols]I16x16 = undefined;
            var p32: [ncols]I32x8 = @splat(@splat(0));
            inline for (0..4) |j| {
                const wv = panel.w[i][j];
                inline for (0..ncols) |c| {
                    const a8 = std.mem.readInt(u64, L.q(bases[c], m)[8 * j ..][0..8], .little);
                    const prod = simd.mulAddBytes(wv, @bitCast(@as(@Vector(4, u64), @splat(a8))));
                    p16[c] = if (j % products_per_int16 == 0) prod else p16[c] + prod;
                    if (j % products_per_int16 == products_per_int16 - 1) p32[c] += simd.mulAddPairs(p16[c], ones);
                }
            }
            const d = panel.d[i];
            inline for (0..ncols) |c| {
                const da = L.d(bases[c], m);
                const sa = sums[c];
                acc[c] = @mulAdd(F32x8, @floatFromInt(p32[c]), d * @as(F32x8, @splat(da)), acc[c]);
                acc[c] = @mulAdd(F32x8, panel.d_offset[i], @splat(sa), acc[c]);
            }
        }

        /// Scalar twin of sliceSimd over the same panel: exact integer block sums, then the
        /// same scaling, accumulated in lane 2r of each token's accumulator.
        fn sliceScalar(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, n_blocks: usize, b0: usize, count: usize, acc: *[token_group]F32x8) void {
            for (0..n_tokens) |t| {
                for (0..count) |i| {
                    const a = Layout.block(act + t * act_stride, b0 + i, n_blocks);
                    for (0..rows) |r| {
                        var isum: i32 = 0;
                        for (0..32) |e| isum += @as(i32, panel.w[i][e / 8][8 * r + e % 8]) * a.q[e];
                        acc[t][2 * r] += panel.d[i][2 * r] * a.d * @as(f32, @floatFromInt(isum)) + panel.d_offset[i][2 * r] * a.s;
                    }
                }
            }
        }
    };
}

/// out[j] = { v[0][j], v[1][j], …, v[7][j] }: 32-bit unpacks, 64-bit unpacks, 128-bit permutes.
pub inline fn transpose8(v: [8]U32x8) [8]U32x8 {
    var t: [8]U32x8 = undefined;
    inline for (0..4) |m| {
        t[2 * m] = @shuffle(u32, v[2 * m], v[2 * m + 1], [8]i32{ 0, -1, 1, -2, 4, -5, 5, -6 });
        t[2 * m + 1] = @shuffle(u32, v[2 * m], v[2 * m + 1], [8]i32{ 2, -3, 3, -4, 6, -7, 7, -8 });
    }
    var u: [8]U32x8 = undefined;
    inline for (0..2) |h| {
        const a = t[4 * h ..][0..4];
        u[4 * h + 0] = @shuffle(u32, a[0], a[2], [8]i32{ 0, 1, -1, -2, 4, 5, -5, -6 });
        u[4 * h + 1] = @shuffle(u32, a[0], a[2], [8]i32{ 2, 3, -3, -4, 6, 7, -7, -8 });
        u[4 * h + 2] = @shuffle(u32, a[1], a[3], [8]i32{ 0, 1, -1, -2, 4, 5, -5, -6 });
        u[4 * h + 3] = @shuffle(u32, a[1], a[3], [8]i32{ 2, 3, -3, -4, 6, 7, -7, -8 });
    }
    var out: [8]U32x8 = undefined;
    inline for (0..4) |j| {
        out[j] = @shuffle(u32, u[j], u[4 + j], [8]i32{ 0, 1, 2, 3, -1, -2, -3, -4 });
        out[4 + j] = @shuffle(u32, u[j], u[4 + j], [8]i32{ 4, 5, 6, 7, -5, -6, -7, -8 });
    }
    return out;
}

test "transpose8 transposes" {
    var v: [8]U32x8 = undefined;
    for (0..8) |i| {
        for (0..8) |j| v[i][j] = @intCast(10 * i + j);
    }
    const out = transpose8(v);
    for (0..8) |i| {
        for (0..8) |j| try std.testing.expectEqual(v[j][i], out[i][j]);
    }
}

/// Checks a type's GEMM tile against its per-row dots on n = 70 rows (crossing the 64-row group,
/// ending in a partial 4-row panel) and t = 37 tokens (ending in partial octs and quads).
fn expectTilesMatchDots(comptime type_id: u32, comptime k: usize) !void {
    const quants = @import("quants.zig");
    const n = 70;
    const t = 37;
    const allocator = std.testing.allocator;
    var prng = std.Random.DefaultPrng.init(23);
    const random = prng.random();
    var x: [k]f32 = undefined;
    const traits = quants.traits(type_id).?;
    const row_bytes = traits.rowBytes(k);
    const act_bytes = traits.activation.rowBytes(k);
    const weight = try allocator.alloc(u8, n * row_bytes);
    defer allocator.free(weight);
    const act = try allocator.alloc(u8, t * act_bytes);
    defer allocator.free(act);
    const act_deq = try allocator.alloc(f32, t * k);
    defer allocator.free(act_deq);
    for (0..n) |r| {
        for (&x) |*v| v.* = random.floatNorm(f32);
        traits.quantizeRow(&x, weight.ptr + r * row_bytes);
    }
    for (0..t) |c| {
        for (&x) |*v| v.* = random.floatNorm(f32);
        traits.activation.quantizeRow(&x, act.ptr + c * act_bytes);
        for (0..k / 32) |b| {
            const a = if (traits.activation == .q8k) Q8kSubBlocks.block(act.ptr + c * act_bytes, b, k / 32) else Q8aLayout.block(act.ptr + c * act_bytes, b, k / 32);
            for (0..32) |e| act_deq[c * k + 32 * b + e] = a.d * @as(f32, @floatFromInt(a.q[e]));
        }
    }
    for ([_]bool{ true, false }) |use_simd| {
        cpu_path.use_simd.store(use_simd, .monotonic);
        defer cpu_path.use_simd.store(true, .monotonic);
        var y: [t * n]f32 = undefined;
        traits.gemm_tile.?(weight.ptr, row_bytes, n, act.ptr, act_bytes, t, k, &y, n);
        var w_deq: [k]f32 = undefined;
        for (0..n) |r| {
            traits.dequantizeRow(weight.ptr + r * row_bytes, &w_deq);
            for (0..t) |c| {
                var want: [4]f32 = undefined;
                traits.dots[0](weight.ptr + r * row_bytes, act.ptr + c * act_bytes, act_bytes, k, &want);
                // The same exact integer block sums, scaled and added in another order: each
                // side rounds at most nb + 16 partial sums, each ≤ Σ|w·a| (f32 epsilon).
                var magnitude: f64 = 0;
                for (w_deq, act_deq[c * k ..][0..k]) |wv, av| magnitude += @abs(@as(f64, wv) * av);
                const bound = 2 * (k / 32 + 16) * std.math.floatEps(f32) * magnitude;
                std.testing.expectApproxEqAbs(want[0], y[c * n + r], @as(f32, @floatCast(bound))) catch |err| {
                    std.debug.print("type {} simd {} row {} token {}\n", .{ type_id, use_simd, r, c });
                    return err;
                };
            }
        }
    }
}

test "GEMM tiles match the per-row dots across K slices, row groups and token tails" {
    // 37 blocks cross the 8- and 32-block slices and end in a Q8A tail block.
    inline for (.{ 8, 2, 3, 6, 7, 20, 1002, 1020 }) |type_id| try expectTilesMatchDots(type_id, 32 * 37);
    // 5 super-blocks cross gemm_k's 4-super-block slice, and IQ4_XS's 40 sub-blocks cross
    // sign_xor_tile's 32-block slice (32 + 8).
    inline for (.{ 12, 13, 14, 23 }) |type_id| try expectTilesMatchDots(type_id, 256 * 5);
}
