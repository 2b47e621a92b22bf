//! GEMM tile kernel of the K-quants whose super-blocks carry unsigned codes with integer scales
//! (Q4_K, Q5_K: a 6-bit scale and min per 32 elements; Q6_K: an 8-bit scale per 16 and a fixed
//! offset of 32), against Q8_K activations (one f32 scale per 256). With g the 16-element group:
//!
//!     Σ_k W[r][k]·a[k] = da · Σ_s ( d_r,s · Σ_g sc_r,s,g · Σ_e u·q  −  dmin_r,s · Σ_g m_r,s,g · bsum_g )
//!
//! (Q4_K/Q5_K: sc and m repeat per pair of groups; Q6_K: m_g = 32·sc_g and dmin = d.)
//! Both inner sums stay in integers: a group's byte products (vpmaddubsw, summed in 16 bits) are
//! weighted by its scale in the same vpmaddwd that widens them, so a super-block needs one
//! conversion and one FMA per token instead of one per sub-block (gemm32's float-scaled kernel
//! did the latter: 96 GOP/s per core on Q4_K t=512, ~53% of the int8 peak, against 127 here).
//! The subtracted term meets the Q8_K 16-element sums in four vpmaddwd per super-block.
//! Bounds (|q| ≤ 127): 5-bit codes sum 4 registers in 16 bits, 4·2·31·127 = 31496 < 2^15; 6-bit
//! codes sum 2 (one 16-element group), 2·2·63·127 = 32004; a 32-bit lane then holds at most
//! 16·2·32004·128 < 2^27; m·bsum pairs are at most 2·4096·2032 < 2^25.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;

/// One super-block of one row as the kernel consumes it.
pub const Super = struct {
    /// Codes (unsigned, without the min or offset) of sub-block i, elements 0..31.
    u: [8][32]u8,
    /// Scale of 16-element group g (sub-block g/2).
    sc: [16]i16,
    /// Multiplier of group g's activation sum in the subtracted term.
    m: [16]i16,
    d: f32,
    dmin: f32,
};

/// `Decoder.decodeSuper(w, *Super)` fills a Super from one super-block at `w` (SIMD or scalar
/// according to cpu_path; both give the same values), or, for a layout whose rows are not
/// separately addressable (q4_k_r8.zig), `decodeRowSuper(w, w_row_bytes, n_rows, r, s, *Super)`
/// fills super-block s of row r of the tile's rows; `Decoder.block_bytes` is its size;
/// `Decoder.group_scales` is true when the two groups of a sub-block have their own scales
/// (Q6_K: two vpmaddwd per sub-block instead of one).
pub fn GemmK(comptime Decoder: type) type {
    return struct {
        /// Rows interleaved in one panel register.
        const rows = 4;
        /// Tokens per register tile: 2 keeps each token's byte-product and code sums, both
        /// accumulators and the shared weight, scale and activation registers within the 16 ymm
        /// registers (Q4_K t=512: 127 GOP/s per core with 2, 105 with 3 or 4, which spill).
        const tile_tokens = 2;
        /// Super-blocks per panel: codes 4 KiB, scales 1-2 KiB, the rest < 1 KiB; kept in L1.
        const slice_supers = 4;
        /// Tokens whose accumulators are kept across K slices.
        const token_group = 128;

        const Panel = struct {
            /// Register j of sub-block b (8·s + i) holds codes 8j..8j+7 of rows 0..3 (8 bytes
            /// per row): vpmaddubsw leaves row r's pair sums in 16-bit lanes 4r..4r+3.
            w: [slice_supers * 8][4]U8x32 align(32),
            /// Row r's scale of sub-block b's group h (elements 16h..16h+15) in sc[b][h], 16-bit
            /// lanes 4r..4r+3 (one register when the groups share their scale).
            sc: [slice_supers * 8][if (Decoder.group_scales) 2 else 1]I16x16 align(32),
            /// Row r's group multipliers m of super-block s, lane g: pairs with the 16 bsums.
            mins: [slice_supers][rows]I16x16 align(32),
            /// Row r's d in lanes 2r and 2r+1 (the layout vpmaddwd leaves the code sums in).
            d: [slice_supers]F32x8 align(32),
            /// Row r's −dmin in lanes r and r+4 (the layout of the mins' vphaddd tree).
            neg_dmin: [slice_supers]F32x8 align(32),
        };

        /// Accumulators of one token: code sums (row r in lanes 2r, 2r+1) and mins (r, r+4).
        const Acc = struct { codes: F32x8, mins: F32x8 };

        /// See gemm32.GemmTileFn.
        pub fn tile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            std.debug.assert(k % 256 == 0 and n_rows > 0 and n_tokens > 0);
            const n_supers = k / 256;
            const use_simd = cpu_path.simd();
            var panel: Panel = undefined;
            var acc: [token_group]Acc = undefined;
            var row: usize = 0;
            while (row < n_rows) : (row += rows) {
                const rows_here = @min(rows, n_rows - row);
                var token: usize = 0;
                while (token < n_tokens) : (token += token_group) {
                    const tokens_here = @min(token_group, n_tokens - token);
                    @memset(acc[0..tokens_here], .{ .codes = @splat(0), .mins = @splat(0) });
                    var s0: usize = 0;
                    while (s0 < n_supers) : (s0 += slice_supers) {
                        const count = @min(slice_supers, n_supers - s0);
                        buildPanel(&panel, w, w_row_bytes, n_rows, row, rows_here, s0, count);
                        const act_group = act + token * act_stride + s0 * @sizeOf(common.BlockQ8K);
                        if (use_simd) {
                            sliceSimd(&panel, act_group, act_stride, tokens_here, count, &acc);
                        } else {
                            sliceScalar(&panel, act_group, act_stride, tokens_here, count, &acc);
                        }
                    }
                    for (0..tokens_here) |t| {
                        const out = y + (token + t) * y_row_stride + row;
                        const a = acc[t];
                        for (0..rows_here) |r| out[r] = (a.codes[2 * r] + a.codes[2 * r + 1]) + (a.mins[r] + a.mins[r + 4]);
                    }
                }
            }
        }

        /// Missing rows of a last partial group repeat row 0 (their outputs are never written).
        fn buildPanel(panel: *Panel, w: [*]const u8, w_row_bytes: usize, n_rows: usize, row: usize, rows_here: usize, s0: usize, count: usize) void {
            for (0..rows) |r| {
                const src_row = row + (if (r < rows_here) r else 0);
                for (0..count) |s| {
                    var sup: Super = undefined;
                    if (@hasDecl(Decoder, "decodeRowSuper")) {
                        Decoder.decodeRowSuper(w, w_row_bytes, n_rows, src_row, s0 + s, &sup);
                    } else {
                        Decoder.decodeSuper(w + src_row * w_row_bytes + (s0 + s) * Decoder.block_bytes, &sup);
                    }
                    for (0..8) |i| {
                        const b = 8 * s + i;
                        gemm32.interleaveRowCodes(&panel.w[b], r, &sup.u[i]);
                        inline for (0..panel.sc[b].len) |h| {
                            inline for (0..4) |lane| panel.sc[b][h][4 * r + lane] = sup.sc[2 * i + h];
                        }
                    }
                    for (0..16) |g| panel.mins[s][r][g] = sup.m[g];
                    panel.d[s][2 * r] = sup.d;
                    panel.d[s][2 * r + 1] = sup.d;
                    panel.neg_dmin[s][r] = -sup.dmin;
                    panel.neg_dmin[s][r + 4] = -sup.dmin;
                }
            }
        }

        fn sliceSimd(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, count: usize, acc: *[token_group]Acc) void {
            var t: usize = 0;
            while (t + tile_tokens <= n_tokens) : (t += tile_tokens) {
                tileSimd(tile_tokens, panel, act + t * act_stride, act_stride, count, acc[t..][0..tile_tokens]);
            }
            if (t < n_tokens) tileSimd(1, panel, act + t * act_stride, act_stride, count, acc[t..][0..1]);
        }

        extern fn @"llvm.x86.avx2.phadd.d"(I32x8, I32x8) I32x8;

        /// 4 rows × `ncols` tokens over one panel.
        inline fn tileSimd(comptime ncols: usize, panel: *const Panel, act: [*]const u8, act_stride: usize, count: usize, acc_io: *[ncols]Acc) void {
            @setEvalBranchQuota(20000);
            var acc = acc_io.*;
            for (0..count) |s| {
                var blocks: [ncols]*align(1) const common.BlockQ8K = undefined;
                inline for (0..ncols) |c| blocks[c] = common.q8k(act + c * act_stride + s * @sizeOf(common.BlockQ8K));
                var isum: [ncols]I32x8 = @splat(@splat(0));
                inline for (0..8) |i| {
                    const b = 8 * s + i;
                    // One 16-bit sum per scale: registers 0..3, or 0..1 and 2..3 per group.
                    const per_sum = 4 / panel.sc[b].len;
                    inline for (0..panel.sc[b].len) |h| {
                        var p16: [ncols]I16x16 = undefined;
                        inline for (0..per_sum) |jj| {
                            const j = h * per_sum + jj;
                            const wv = panel.w[b][j];
                            inline for (0..ncols) |c| {
                                const a8: u64 = @bitCast(blocks[c].q[32 * i + 8 * j ..][0..8].*);
                                const prod = simd.mulAddBytes(wv, @bitCast(@as(@Vector(4, u64), @splat(a8))));
                                p16[c] = if (jj == 0) prod else p16[c] + prod;
                            }
                        }
                        inline for (0..ncols) |c| isum[c] += simd.mulAddPairs(p16[c], panel.sc[b][h]);
                    }
                }
                inline for (0..ncols) |c| {
                    const da: F32x8 = @splat(blocks[c].d);
                    var a = acc[c];
                    a.codes = @mulAdd(F32x8, @floatFromInt(isum[c]), panel.d[s] * da, a.codes);
                    const bsums: I16x16 = blocks[c].bsums;
                    var m: [rows]I32x8 = undefined;
                    inline for (0..rows) |r| m[r] = simd.mulAddPairs(bsums, panel.mins[s][r]);
                    const h = @"llvm.x86.avx2.phadd.d"(@"llvm.x86.avx2.phadd.d"(m[0], m[1]), @"llvm.x86.avx2.phadd.d"(m[2], m[3]));
                    a.mins = @mulAdd(F32x8, @floatFromInt(h), panel.neg_dmin[s] * da, a.mins);
                    acc[c] = a;
                }
            }
            acc_io.* = acc;
        }

        /// Scalar twin of sliceSimd over the same panel: exact integer sums (the activation
        /// sub-block sums recomputed from the quants, not read from bsums), the same scaling,
        /// accumulated in lanes 2r and r.
        fn sliceScalar(panel: *const Panel, act: [*]const u8, act_stride: usize, n_tokens: usize, count: usize, acc: *[token_group]Acc) void {
            for (0..n_tokens) |t| {
                for (0..count) |s| {
                    const a = common.q8k(act + t * act_stride + s * @sizeOf(common.BlockQ8K));
                    for (0..rows) |r| {
                        var isum: i32 = 0;
                        var msum: i32 = 0;
                        for (0..16) |g| {
                            const b = 8 * s + g / 2;
                            var qsum: i32 = 0;
                            var asum: i32 = 0;
                            for (16 * (g % 2)..16 * (g % 2) + 16) |e| {
                                const code: i32 = panel.w[b][e / 8][8 * r + e % 8];
                                qsum += code * a.q[32 * (g / 2) + e];
                                asum += a.q[32 * (g / 2) + e];
                            }
                            const sc = panel.sc[b][if (panel.sc[b].len == 2) g % 2 else 0];
                            isum += @as(i32, sc[4 * r]) * qsum;
                            msum += @as(i32, panel.mins[s][r][g]) * asum;
                        }
                        acc[t].codes[2 * r] += panel.d[s][2 * r] * a.d * @as(f32, @floatFromInt(isum));
                        acc[t].mins[r] += panel.neg_dmin[s][r] * a.d * @as(f32, @floatFromInt(msum));
                    }
                }
            }
        }
    };
}
