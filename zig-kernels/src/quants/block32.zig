//! The dot-product engine shared by the 32-element block types (Q8_0, Q4_0, IQ4_NL) against
//! BlockQ8A activations. A type supplies its block size, its fp16 scale, and two decoders of a
//! block's 32 integer weights: a SIMD one (unsigned nibbles or signed bytes in one register) and a
//! scalar twin. Each weight block is decoded once and used for `ncols` activation rows, which is
//! what lets the GEMM reuse a weight register across a tile of tokens.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const BlockQ8A = common.BlockQ8A;

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const ones: I16x16 = @splat(1);

extern fn @"llvm.x86.avx2.psign.b"(I8x32, I8x32) I8x32;

/// vpsignb: a[i] negated where sign[i] < 0, zeroed where sign[i] == 0 (one instruction).
pub inline fn signBytes(a: I8x32, sign: I8x32) I8x32 {
    return @"llvm.x86.avx2.psign.b"(a, sign);
}

/// vpabsb: |v[i]|, with |−128| = 0x80 (128 read as unsigned).
inline fn absBytes(v: I8x32) U8x32 {
    return @abs(v);
}

/// `out[c] = Σ_k w[k]·act_c[k]` for c < ncols; `act` rows are `act_stride` bytes apart, `k`
/// elements long; the same signature serves every type (float types take f32 rows as bytes).
pub const DotFn = *const fn (w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void;

/// Most activation rows one dot call handles (the GEMM token-tile width).
pub const ncols_max = 4;

/// Builds the dot products of a 32-element block type `T`, which declares:
/// `block_bytes`, `scale(w) f32`, `unsigned_quants: bool` (SIMD decode yields u8 in [0,15] and
/// `offset` is added through the activation sum s) or signed (decode yields i8 in [-128,127],
/// offset 0), `offset: f32`, `decodeSimd(w) U8x32/I8x32`, `decodeScalar(w, *[32]i32)` (values
/// with the offset already applied).
pub fn Engine(comptime T: type) type {
    return struct {
        /// The dot products for 1..ncols_max activation rows, indexed by ncols − 1.
        pub const dots: [ncols_max]DotFn = .{ dot(1), dot(2), dot(3), dot(4) };

        fn dot(comptime ncols: usize) DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    std.debug.assert(k % 32 == 0);
                    if (cpu_path.simd()) dotSimd(ncols, w, act, act_stride, k / 32, out) else dotScalar(ncols, w, act, act_stride, k / 32, out);
                }
            }.call;
        }

        inline fn dotSimd(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            // Groups of 4 blocks: the 4 int sums are folded into the lanes of one vector by two
            // levels of vphaddd, so one conversion and one FMA serve 4 blocks.
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = @splat(@splat(0));
            var off: [ncols]@Vector(4, f32) = @splat(@splat(0));
            var g: usize = 0;
            while (g < n_full) : (g += 4) {
                const wg = w + g * T.block_bytes;
                const dw4 = scales4(T.block_bytes, wg);
                if (T.unsigned_quants) {
                    var u: [4]U8x32 = undefined;
                    inline for (0..4) |i| u[i] = T.decodeSimd(wg + i * T.block_bytes);
                    inline for (0..ncols) |c| {
                        const a = common.q8aGroup(act + c * act_stride + g * @sizeOf(common.BlockQ8A));
                        var p: [4]simd.I32x8 = undefined;
                        inline for (0..4) |i| p[i] = simd.mulAddPairs(simd.mulAddBytes(u[i], a.q[32 * i ..][0..32].*), ones);
                        acc[c] = accumulate4(acc[c], p, dw4, a.d);
                        off[c] += dw4 * @as(@Vector(4, f32), a.s);
                    }
                } else {
                    var v: [4]I8x32 = undefined;
                    var abs_w: [4]U8x32 = undefined;
                    inline for (0..4) |i| {
                        v[i] = T.decodeSimd(wg + i * T.block_bytes);
                        abs_w[i] = absBytes(v[i]);
                    }
                    inline for (0..ncols) |c| {
                        const a = common.q8aGroup(act + c * act_stride + g * @sizeOf(common.BlockQ8A));
                        var p: [4]simd.I32x8 = undefined;
                        inline for (0..4) |i| p[i] = simd.mulAddPairs(simd.mulAddBytes(abs_w[i], signBytes(a.q[32 * i ..][0..32].*, v[i])), ones);
                        acc[c] = accumulate4(acc[c], p, dw4, a.d);
                    }
                }
            }
            var tail: [ncols]F32x8 = @splat(@splat(0));
            var offset_sum: [ncols]f32 = @splat(0);
            for (n_full..n_blocks) |b| blockSimd(ncols, w, act, act_stride, b, &tail, &offset_sum);
            inline for (0..ncols) |c| out[c] = @reduce(.Add, acc[c] + tail[c]) + T.offset * (@reduce(.Add, off[c]) + offset_sum[c]);
        }

        inline fn blockSimd(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, b: usize, acc: *[ncols]F32x8, offset_sum: *[ncols]f32) void {
            const wb = w + b * T.block_bytes;
            const dw = T.scale(wb);
            if (T.unsigned_quants) {
                const u = T.decodeSimd(wb);
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    const p = simd.mulAddPairs(simd.mulAddBytes(u, a.q), ones);
                    acc[c] = @mulAdd(F32x8, @floatFromInt(p), @splat(dw * a.d), acc[c]);
                    offset_sum[c] += dw * a.s;
                }
            } else {
                // Sign trick: |w| (unsigned) times a carrying w's sign; |−128| = 128 still fits u8.
                const v = T.decodeSimd(wb);
                const abs_w = absBytes(v);
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    const p = simd.mulAddPairs(simd.mulAddBytes(abs_w, signBytes(a.q, v)), ones);
                    acc[c] = @mulAdd(F32x8, @floatFromInt(p), @splat(dw * a.d), acc[c]);
                }
            }
        }

        inline fn dotScalar(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            var sum: [ncols]f32 = @splat(0);
            const n_full = n_blocks / 4 * 4;
            for (0..n_blocks) |b| {
                const wb = w + b * T.block_bytes;
                var values: [32]i32 = undefined;
                T.decodeScalar(wb, &values);
                const dw = T.scale(wb);
                inline for (0..ncols) |c| {
                    const a = common.activationBlock(act + c * act_stride, b, n_full);
                    var isum: i32 = 0;
                    for (values, a.q) |x, y| isum += x * y;
                    sum[c] += dw * a.d * @as(f32, @floatFromInt(isum));
                }
            }
            inline for (0..ncols) |c| out[c] = sum[c];
        }

        /// The GEMM tile kernel over panels decoded from this type's rows (see Gemm).
        pub const gemmTile: GemmTileFn = Gemm(struct {
            pub const unsigned_quants = T.unsigned_quants;
            pub const offset = T.offset;

            pub fn decodeBlocks(row: [*]const u8, n_blocks: usize, b0: usize, count: usize, q: *[gemm_slice_blocks][32]u8, d: *[gemm_slice_blocks]f32) void {
                std.debug.assert(b0 + count <= n_blocks);
                const use_simd = cpu_path.simd();
                for (0..count) |i| {
                    const wb = row + (b0 + i) * T.block_bytes;
                    d[i] = T.scale(wb);
                    if (use_simd) {
                        q[i] = @bitCast(T.decodeSimd(wb));
                    } else {
                        var values: [32]i32 = undefined;
                        T.decodeScalar(wb, &values);
                        storeCodes(values, T.offset, &q[i]);
                    }
                }
            }
        }).tile;

        /// Dequantizes `dst.len` elements (a multiple of 32) from `src`.
        pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
            std.debug.assert(dst.len % 32 == 0);
            const use_simd = cpu_path.simd();
            for (0..dst.len / 32) |b| {
                const wb = src + b * T.block_bytes;
                const d = T.scale(wb);
                const out = dst[b * 32 ..][0..32];
                if (use_simd) {
                    // Widen the 32 decoded integers 8 at a time; unsigned quants carry the offset.
                    const v = T.decodeSimd(wb);
                    const wide: [32]i32 = if (T.unsigned_quants) @as(@Vector(32, i32), v) + @as(@Vector(32, i32), @splat(@intFromFloat(T.offset))) else @as(@Vector(32, i32), v);
                    inline for (0..4) |i| {
                        const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
                        out[8 * i ..][0..8].* = @as(F32x8, @floatFromInt(part)) * @as(F32x8, @splat(d));
                    }
                } else {
                    var values: [32]i32 = undefined;
                    T.decodeScalar(wb, &values);
                    for (values, out) |v, *x| x.* = d * @as(f32, @floatFromInt(v));
                }
            }
        }
    };
}

extern fn @"llvm.x86.avx2.psrlv.d.256"(@Vector(8, i32), @Vector(8, i32)) @Vector(8, i32);

extern fn @"llvm.x86.avx2.phadd.d"(simd.I32x8, simd.I32x8) simd.I32x8;

/// acc + Σ_i p_i·dw_i·da_i: vphaddd twice puts block i's sums in lanes i and i+4.
pub inline fn accumulate4(acc: F32x8, p: [4]simd.I32x8, dw4: @Vector(4, f32), da: [4]f32) F32x8 {
    const h01 = @"llvm.x86.avx2.phadd.d"(p[0], p[1]);
    const h23 = @"llvm.x86.avx2.phadd.d"(p[2], p[3]);
    const h = @"llvm.x86.avx2.phadd.d"(h01, h23);
    const s4 = dw4 * @as(@Vector(4, f32), da);
    const s8 = @shuffle(f32, s4, undefined, [8]i32{ 0, 1, 2, 3, 0, 1, 2, 3 });
    return @mulAdd(F32x8, @floatFromInt(h), s8, acc);
}

/// The fp16 scales of 4 consecutive blocks (at offset 0 of each) as 4 f32 with one vcvtph2ps.
inline fn scales4(comptime block_bytes: usize, w: [*]const u8) @Vector(4, f32) {
    // The four fp16 scales are gathered into one 64-bit integer on the scalar side (movzx,
    // shift, or: integer ports the vector-bound dot product leaves idle), then moved over once;
    // inserting them lane by lane (vpinsrw) would cost vector-pipe uops in the hot loop.
    var bits: u64 = 0;
    inline for (0..4) |i| bits |= @as(u64, std.mem.readInt(u16, w[i * block_bytes ..][0..2], .little)) << (16 * i);
    const halves: @Vector(2, u64) = .{ bits, 0 };
    return asm ("vcvtph2ps %[in], %[out]"
        : [out] "=x" (-> @Vector(4, f32)),
        : [in] "x" (halves),
    );
}

/// Low nibbles of 16 bytes followed by their high nibbles, as 32 unsigned bytes in [0, 15].
/// The 16 bytes are broadcast to both 128-bit lanes (a load, no shuffle uop) and the upper lane
/// is shifted right by 4 with one variable dword shift; one AND then clears the other nibble.
pub inline fn unpackNibbles(qs: *const [16]u8) U8x32 {
    const bytes: @Vector(16, u8) = qs.*;
    const both: @Vector(8, i32) = @bitCast(@shuffle(u8, bytes, undefined, [32]i32{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }));
    const shifted = @"llvm.x86.avx2.psrlv.d.256"(both, .{ 0, 0, 0, 0, 4, 4, 4, 4 });
    return @as(U8x32, @bitCast(shifted)) & @as(U8x32, @splat(0x0F));
}

/// A GEMM tile of a 32-block weight type: `y[t·y_row_stride + r] = Σ_k W[r][k]·act_t[k]` for
/// r < n_rows (rows `w_row_bytes` apart from `w`), t < n_tokens (Q8A rows `act_stride` apart).
pub const GemmTileFn = *const fn (w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void;

/// Scalar decoders' values (offset applied) → the panel's bytes: unsigned codes get the offset
/// removed again (Q4_0: v + 8 in [0, 15]), signed values are stored as i8.
pub fn storeCodes(values: [32]i32, comptime offset: f32, out: *[32]u8) void {
    const off: i32 = @intFromFloat(offset);
    for (values, out) |v, *o| o.* = @truncate(@as(u32, @bitCast(v - off)));
}

/// Rows interleaved in one panel register: 8 consecutive weights of each of 4 rows per 32 bytes.
pub const gemm_rows = 4;
/// Tokens per register tile of the GEMM kernel (4 accumulators + 4 block sums stay in registers).
pub const gemm_tokens = 4;
/// Blocks of K decoded into one panel: 32 blocks × 4 rows is 9 KiB, so the panel stays in L1
/// while every token of the tile streams past it.
pub const gemm_slice_blocks = 32;
/// Tokens whose accumulators are kept across K slices (each panel is decoded once per group).
pub const gemm_token_group = 128;

/// The decoded weights of 4 rows × `gemm_slice_blocks` blocks, laid out for the GEMM kernel.
/// Register j of block i holds weights 8j..8j+7 of rows 0..3 (8 bytes per row), so one 8-byte
/// broadcast of a token's activations multiplies 4 rows at once and vpmaddwd leaves row r's
/// partial sums in lanes 2r and 2r+1: no horizontal reduction until the tile is done.
pub const Panel = struct {
    /// Signed weights (signed types) or unsigned codes in [0, 15] (unsigned types).
    w: [gemm_slice_blocks][4]I8x32 align(32),
    /// |w| as unsigned bytes (signed types only): the vpmaddubsw operand of the sign trick.
    abs_w: [gemm_slice_blocks][4]U8x32 align(32),
    /// Row r's block scale in lanes 2r and 2r+1.
    d: [gemm_slice_blocks]F32x8 align(32),
    /// offset·d of row r in lane 2r, 0 in lane 2r+1 (unsigned types: the −8 of Q4_0 applied once
    /// per row through the activation block sum s).
    d_offset: [gemm_slice_blocks]F32x8 align(32),
};

/// The GEMM tile kernel of a 32-block type. `Decoder` declares `unsigned_quants`, `offset`, and
/// `decodeBlocks(row, n_blocks_row, b0, count, q, d)`: blocks b0..b0+count of a row as 32 bytes
/// each (signed values, or unsigned codes without the offset) and f32 scales, SIMD or scalar
/// according to cpu_path (both must give the same bytes).
pub fn Gemm(comptime Decoder: type) type {
    return struct {
        const unsigned = Decoder.unsigned_quants;

        /// See GemmTileFn. Each 4-row panel is decoded once per K slice and token group.
        pub fn tile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            std.debug.assert(k % 32 == 0 and n_rows > 0 and n_tokens > 0);
            const n_blocks = k / 32;
            const use_simd = cpu_path.simd();
            var panel: Panel = undefined;
            var acc: [gemm_token_group]F32x8 = undefined;
            var row: usize = 0;
            while (row < n_rows) : (row += gemm_rows) {
                const rows_here = @min(gemm_rows, n_rows - row);
                var token: usize = 0;
                while (token < n_tokens) : (token += gemm_token_group) {
                    const tokens_here = @min(gemm_token_group, n_tokens - token);
                    @memset(acc[0..tokens_here], @splat(0));
                    var b0: usize = 0;
                    while (b0 < n_blocks) : (b0 += gemm_slice_blocks) {
                        const count = @min(gemm_slice_blocks, n_blocks - b0);
                        buildPanel(&panel, w + row * w_row_bytes, w_row_bytes, rows_here, n_blocks, b0, count);
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

        /// Decodes blocks b0..b0+count of `rows_here` rows into the interleaved panel; missing
        /// rows of a last partial group repeat row 0 (their outputs are never written).
        fn buildPanel(panel: *Panel, w: [*]const u8, w_row_bytes: usize, rows_here: usize, n_blocks: usize, b0: usize, count: usize) void {
            var q: [gemm_slice_blocks][32]u8 align(32) = undefined;
            var d: [gemm_slice_blocks]f32 = undefined;
            for (0..gemm_rows) |r| {
                const src_row = if (r < rows_here) r else 0;
                Decoder.decodeBlocks(w + src_row * w_row_bytes, n_blocks, b0, count, &q, &d);
                for (0..count) |i| {
                    inline for (0..4) |j| {
                        const dst: *[32]u8 = @ptrCast(&panel.w[i][j]);
                        dst[8 * r ..][0..8].* = q[i][8 * j ..][0..8].*;
                    }
                    panel.d[i][2 * r] = d[i];
                    panel.d[i][2 * r + 1] = d[i];
                    panel.d_offset[i][2 * r] = Decoder.offset * d[i];
                    panel.d_offset[i][2 * r + 1] = 0;
                }
            }
            if (!unsigned) {
                for (0..count) |i| {
                    inline for (0..4) |j| panel.abs_w[i][j] = @abs(panel.w[i][j]);
                }
            }
        }

        fn sliceSimd(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, n_blocks: usize, b0: usize, count: usize, acc: *[gemm_token_group]F32x8) void {
            var t: usize = 0;
            while (t + gemm_tokens <= n_tokens) : (t += gemm_tokens) {
                tileSimd(gemm_tokens, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..gemm_tokens]);
            }
            switch (n_tokens - t) {
                0 => {},
                1 => tileSimd(1, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..1]),
                2 => tileSimd(2, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..2]),
                3 => tileSimd(3, panel, act + t * act_stride, act_stride, n_blocks, b0, count, acc[t..][0..3]),
                else => unreachable,
            }
        }

        /// The register tile: 4 rows × `ncols` tokens over one panel. Per block and token: four
        /// 8-byte activation broadcasts, vpsignb + vpmaddubsw + vpmaddwd per register (signed) or
        /// vpmaddubsw summed in 16 bits and one vpmaddwd (4-bit unsigned codes: |sum| ≤ 4·2·15·127
        /// fits i16), then one conversion and one FMA for 4 rows. Blocks inside Q8A groups are
        /// addressed from the group's base with constant offsets (no per-block index arithmetic).
        inline fn tileSimd(comptime ncols: usize, panel: *const Panel, act: [*]const u8, act_stride: usize, n_blocks: usize, b0: usize, count: usize, acc_out: *[ncols]F32x8) void {
            @setEvalBranchQuota(10000); // the unrolled 4 blocks × 4 registers × ncols tokens
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = acc_out.*;
            var i: usize = 0;
            while (i + 4 <= count and b0 + i + 4 <= n_full) : (i += 4) {
                var bases: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| bases[c] = act + c * act_stride + (b0 + i) / 4 * @sizeOf(common.GroupQ8A);
                inline for (0..4) |m| blockSimd(ncols, panel, i + m, bases, 32 + 32 * m, 4 * m, 16 + 4 * m, &acc);
            }
            while (i < count) : (i += 1) {
                var bases: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| bases[c] = act + c * act_stride + (b0 + i) * @sizeOf(BlockQ8A);
                blockSimd(ncols, panel, i, bases, 8, 0, 4, &acc);
            }
            acc_out.* = acc;
        }

        /// One block of the register tile; token c's quants, scale and sum are at bases[c] plus
        /// the given byte offsets.
        inline fn blockSimd(comptime ncols: usize, panel: *const Panel, i: usize, bases: [ncols][*]const u8, comptime q_at: usize, comptime d_at: usize, comptime s_at: usize, acc: *[ncols]F32x8) void {
            var p16: [ncols]I16x16 = undefined;
            var p32: [ncols]simd.I32x8 = undefined;
            inline for (0..4) |j| {
                const wv = panel.w[i][j];
                inline for (0..ncols) |c| {
                    const a8 = std.mem.readInt(u64, bases[c][q_at + 8 * j ..][0..8], .little);
                    const a: I8x32 = @bitCast(@as(@Vector(4, u64), @splat(a8)));
                    if (unsigned) {
                        const prod = simd.mulAddBytes(@bitCast(wv), a);
                        p16[c] = if (j == 0) prod else p16[c] + prod;
                    } else {
                        const prod = simd.mulAddPairs(simd.mulAddBytes(panel.abs_w[i][j], signBytes(a, wv)), ones);
                        p32[c] = if (j == 0) prod else p32[c] + prod;
                    }
                }
            }
            const d = panel.d[i];
            inline for (0..ncols) |c| {
                const sums = if (unsigned) simd.mulAddPairs(p16[c], ones) else p32[c];
                const da: f32 = @bitCast(std.mem.readInt(u32, bases[c][d_at..][0..4], .little));
                acc[c] = @mulAdd(F32x8, @floatFromInt(sums), d * @as(F32x8, @splat(da)), acc[c]);
                if (unsigned) {
                    const sa: f32 = @bitCast(std.mem.readInt(u32, bases[c][s_at..][0..4], .little));
                    acc[c] = @mulAdd(F32x8, panel.d_offset[i], @splat(sa), acc[c]);
                }
            }
        }

        /// Scalar twin of sliceSimd over the same panel: exact integer block sums, then the
        /// same scaling, accumulated in lane 2r of each token's accumulator.
        fn sliceScalar(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, n_blocks: usize, b0: usize, count: usize, acc: *[gemm_token_group]F32x8) void {
            const n_full = n_blocks / 4 * 4;
            for (0..n_tokens) |t| {
                for (0..count) |i| {
                    const a = common.activationBlock(act + t * act_stride, b0 + i, n_full);
                    for (0..gemm_rows) |r| {
                        var isum: i32 = 0;
                        for (0..32) |e| {
                            const byte: [32]u8 = @bitCast(panel.w[i][e / 8]);
                            const wq: i32 = if (unsigned) byte[8 * r + e % 8] else @as(i8, @bitCast(byte[8 * r + e % 8]));
                            isum += wq * a.q[e];
                        }
                        acc[t][2 * r] += panel.d[i][2 * r] * a.d * @as(f32, @floatFromInt(isum)) + panel.d_offset[i][2 * r] * a.s;
                    }
                }
            }
        }
    };
}
