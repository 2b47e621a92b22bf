//! A prefill tile, 8 rows × 8 tokens per decoded register: each group of 8 rows is decoded once
//! per K slice into a panel, then every token passes 8 at a time through one inline-asm block
//! per K block. Signed weights: Q8_0's (over Q8_0_R8 groups, and over 8 file rows gathered)
//! against Q8A activations, and IQ4_XS's (its sub-blocks gathered) against Q8_K. Unsigned
//! codes with an offset: IQ4_NL_R8's codebook shifted into [0, 240] against Q8P activations.
//!
//! vpmaddubsw wants one operand unsigned. The sign trick (|w| against vpsignb(a, w)) costs a
//! third multiply-pipe µop per 32 products on this core, where vpsignb runs; int16 widening
//! keeps 2 but adds 2.5 broadcast loads. Here the weights' sign goes into the activations by a
//! vpxor with the sign mask s (−1 where w < 0): a xor −1 = −a − 1, so
//!
//!     Σ |w|·(a xor s) = Σ w·a − Σ_{w<0} |w|,
//!
//! and the last sum involves no activation: it is computed once per block and row when the
//! group is decoded. That leaves vpmaddubsw + vpmaddwd per 32 products, the int8 peak's pair,
//! plus a vpxor and a broadcast load that run beside them. Unsigned codes u (value = u +
//! offset) skip the vpxor, the int8 peak's mix exactly, and take the offset back through the
//! activation block sums: IQ4_NL_R8 at t=512, 118.5 → 124.3 GOP/s per core against its dots.
//! (With its signed codebook values through the sign-xor panel it had tied them, 113–119
//! against 116–120.) What is left above the asm is the per-block scaling: 8 tokens × (a
//! conversion and two multiply-pipe µops) on the pipes the products use, ~20% of the tile's
//! time (kernel_limits.md §8).
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const r8 = @import("r8.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const U8x32 = simd.U8x32;
const ones: I16x16 = @splat(1);
const group_rows = r8.group_rows;
const groupedRows = r8.groupedRows;

/// Σ w·a of one block for 8 rows × ncols (≤ 8) activation blocks, exactly. Signed, by the
/// sign-xor trick: |w| · (a xor s) with s = (w < 0 ? −1 : 0) is w·a − |w|·[w < 0] (a xor −1 =
/// −a − 1), so a vpxor replaces vpsignb (a multiply-pipe µop on this core), and the sums start
/// from the block's `correction` Σ_{w<0} |w| per row, which no activation enters. |w| ≤ 128
/// and a xor s ∈ [−128, 127] keep every vpmaddubsw pair within int16. `codes` holds register
/// m's |w| at 64m and its s at 64m + 32 (a Panel(true) block). Unsigned: Σ u·a, register m's
/// u at 32m (a Panel(false) block), the sums starting from zero (`correction` is not read;
/// Panel(false) stores zeros, which the scalar twin starts from); the caller
/// keeps each vpmaddubsw pair within int16 (IQ4_NL: u ≤ 240 against Q8P's pairs). Column c's 4
/// bytes of register m are at q[c] + q_offset + 4m. Inline asm: written in Zig, LLVM reordered
/// the column loop around hoisted |w| and s registers and spilled them. The asm reads the panel
/// and the activations, hence the memory clobber (without it the panel's stores could be moved
/// or dropped).
inline fn blockSums(comptime signed: bool, comptime ncols: usize, codes: [*]const u8, correction: I32x8, q: [ncols][*]const u8, comptime q_offset: usize) [ncols]I32x8 {
    comptime std.debug.assert(ncols >= 1 and ncols <= 8);
    @setEvalBranchQuota(10_000_000);
    const stride = if (signed) 64 else 32;
    comptime var text: []const u8 = "";
    inline for (0..8) |m| {
        text = text ++ std.fmt.comptimePrint("vmovdqa {d}(%[codes]), %[abs]\n", .{stride * m});
        if (signed) text = text ++ std.fmt.comptimePrint("vmovdqa {d}(%[codes]), %[sign]\n", .{stride * m + 32});
        inline for (0..ncols) |c| {
            text = text ++ std.fmt.comptimePrint("vpbroadcastd {d}(%[q{d}]), %[t]\n", .{ q_offset + 4 * m, c });
            if (signed) text = text ++ "vpxor %[sign], %[t], %[t]\n";
            text = text ++ "vpmaddubsw %[t], %[abs], %[t]\n";
            // Register m = 0 starts each sum: from the correction (signed), or as the first
            // pair sums themselves (unsigned, whose correction is zero), so no µop copies a
            // start value in (unsigned: 8 vpaddd and 8 moves fewer per block of 8 tokens).
            text = text ++ if (m > 0)
                std.fmt.comptimePrint("vpmaddwd %[ones], %[t], %[t]\nvpaddd %[t], %[s{d}], %[s{d}]\n", .{ c, c })
            else if (signed)
                std.fmt.comptimePrint("vpmaddwd %[ones], %[t], %[t]\nvpaddd %[t], %[correction], %[s{d}]\n", .{c})
            else
                std.fmt.comptimePrint("vpmaddwd %[ones], %[t], %[s{d}]\n", .{c});
        }
    }
    var s0: I32x8, var s1: I32x8, var s2: I32x8, var s3: I32x8 = .{ undefined, undefined, undefined, undefined };
    var s4: I32x8, var s5: I32x8, var s6: I32x8, var s7: I32x8 = .{ undefined, undefined, undefined, undefined };
    var abs: I32x8 = undefined;
    var sign: I32x8 = undefined;
    var t: I32x8 = undefined;
    var qs: [8][*]const u8 = undefined;
    inline for (0..8) |c| qs[c] = q[@min(c, ncols - 1)];
    asm (text
        : [s0] "=&x" (s0),
          [s1] "=&x" (s1),
          [s2] "=&x" (s2),
          [s3] "=&x" (s3),
          [s4] "=&x" (s4),
          [s5] "=&x" (s5),
          [s6] "=&x" (s6),
          [s7] "=&x" (s7),
          [abs] "=&x" (abs),
          [sign] "=&x" (sign),
          [t] "=&x" (t),
        : [codes] "r" (codes),
          [q0] "r" (qs[0]),
          [q1] "r" (qs[1]),
          [q2] "r" (qs[2]),
          [q3] "r" (qs[3]),
          [q4] "r" (qs[4]),
          [q5] "r" (qs[5]),
          [q6] "r" (qs[6]),
          [q7] "r" (qs[7]),
          [ones] "x" (ones),
          [correction] "x" (correction),
        : .{ .memory = true });
    const s = [8]I32x8{ s0, s1, s2, s3, s4, s5, s6, s7 };
    return s[0..ncols].*;
}

/// Scalar twin of blockSums: the same sums, element by element.
fn blockSumsScalar(comptime signed: bool, comptime ncols: usize, codes: [*]const u8, correction: I32x8, q: [ncols][*]const u8, q_offset: usize) [ncols]I32x8 {
    const stride: usize = if (signed) 64 else 32;
    var sums: [ncols]I32x8 = @splat(correction);
    for (0..8) |m| {
        const abs_w = codes[stride * m ..][0..32];
        for (0..ncols) |c| {
            for (0..32) |byte| {
                const a: u8 = q[c][q_offset + 4 * m + byte % 4];
                const flipped: i8 = @bitCast(if (signed) a ^ codes[stride * m + 32 + byte] else a);
                sums[c][byte / 4] += @as(i32, abs_w[byte]) * flipped;
            }
        }
    }
    return sums;
}

/// Where the tile finds activation block b of a Q8A/Q8P row. Blocks come in runs (Q8A's groups
/// of 4; half Q8_K blocks below) whose quants lie 32 bytes apart from one base address, so the
/// asm's addresses are fixed displacements within a run.
pub const Q8aActivations = struct {
    /// Blocks per run; the n mod 4 last blocks of a Q8A row are single blocks.
    pub const run_blocks = 4;
    /// Base address of the run holding block b (b a multiple of run_blocks).
    pub inline fn runBase(row: [*]const u8, b: usize) [*]const u8 {
        return row + b / 4 * @sizeOf(common.GroupQ8A);
    }
    /// Where the run's first block's quants start, from its base.
    pub const q_offset = @offsetOf(common.GroupQ8A, "q");
    /// Block b's scale, b inside a run.
    pub inline fn scale(row: [*]const u8, b: usize) f32 {
        return common.q8aGroup(runBase(row, b)).d[b % 4];
    }
    /// The sums d·Σq of the run's 4 blocks (unsigned codes' offset term), b a multiple of 4.
    pub inline fn runSums(row: [*]const u8, b: usize) @Vector(4, f32) {
        return common.q8aGroup(runBase(row, b)).s;
    }
    /// Block b outside the runs (the last n mod 4): its quants, scale and sum.
    pub inline fn single(row: [*]const u8, b: usize, n_blocks: usize) struct { q: [*]const u8, d: f32, s: f32 } {
        const a = common.activationBlock(row, b, n_blocks / 4 * 4);
        return .{ .q = @ptrCast(a.q), .d = a.d, .s = a.s };
    }
};

/// Q8_K rows (256-element blocks, one scale): sub-block b is 32 quants of block b / 8.
pub const Q8kActivations = struct {
    /// Half a Q8_K block: runs of 8 unrolled twice the code, and ran 10% slower.
    pub const run_blocks = 4;
    /// Base address of the run holding sub-block b (b a multiple of 4).
    pub inline fn runBase(row: [*]const u8, b: usize) [*]const u8 {
        return row + b / 8 * @sizeOf(common.BlockQ8K) + 32 * (b % 8);
    }
    /// Where the run's first sub-block's quants start, from its base.
    pub const q_offset = @offsetOf(common.BlockQ8K, "q");
    /// Sub-block b's scale: its Q8_K block's.
    pub inline fn scale(row: [*]const u8, b: usize) f32 {
        return common.q8k(row + b / 8 * @sizeOf(common.BlockQ8K)).d;
    }
    /// Sub-block b with its scale (Q8_K rows have no blocks outside the runs; kept for the
    /// interface).
    pub inline fn single(row: [*]const u8, b: usize, _: usize) struct { q: [*]const u8, d: f32 } {
        const a = common.q8k(row + b / 8 * @sizeOf(common.BlockQ8K));
        return .{ .q = @ptrCast(a.q[32 * (b % 8) ..]), .d = a.d };
    }
};

/// One row's block as gatherRows takes it: word m holds elements 4m..4m+3; d the block's scale.
pub const RowBlock = struct { words: @Vector(8, u32), d: f32 };

/// A Tile decodeBlock over 8 consecutive rows of a per-row layout (Q8_0's file rows, IQ4_XS's
/// sub-blocks): `rowBlock(row, b)` (an inline fn: as a call, IQ4_XS's tile lost a third) gives
/// one row's block b as a RowBlock, and one 8 × 8 transpose of 32-bit words puts word m of row r
/// in lane r of register m.
pub inline fn gatherRows(comptime rowBlock: anytype, group: [*]const u8, row_bytes: usize, b: usize, w: *[8]I8x32) F32x8 {
    var words: [8]@Vector(8, u32) = undefined;
    var d: F32x8 = undefined;
    for (&words, 0..) |*row_words, r| {
        const block = rowBlock(group + r * row_bytes, b);
        row_words.* = block.words;
        d[r] = block.d;
    }
    for (w, gemm32.transpose8(words)) |*reg, column| reg.* = @bitCast(column);
    return d;
}

/// Tokens per pass of the prefill tile: each panel register is loaded once for 8 tokens.
const tile_tokens = 8;
/// Tokens whose accumulators a group keeps across its K slices (8 KiB on the stack).
const token_group = 256;
/// Blocks per panel slice: 16 KiB of |w| and signs, which stay in L1 beside 8 tokens' 9 KiB of
/// activations while all the token group passes.
const slice_blocks = 32;

/// One group's blocks b0..b0+count, decoded once for all tokens. Signed: register m's |w| and
/// sign mask s (−1 where w < 0), and the rows' Σ_{w<0} |w| per block (blockSums' correction).
/// Unsigned: register m's bytes u as the kernels multiply them (value = u + L.tile_offset).
/// Both: the rows' scales d.
fn Panel(comptime signed: bool) type {
    return struct {
        codes: [slice_blocks][8][if (signed) 2 else 1]U8x32 align(32),
        correction: [slice_blocks]I32x8,
        d: [slice_blocks]F32x8,

        /// Block i of the panel from one block's 8 signed registers and 8 row scales.
        fn store(panel: *@This(), i: usize, w: *const [8]I8x32, d: F32x8) void {
            const zero: I8x32 = @splat(0);
            var negative: I16x16 = @splat(0); // ≥ −8·2·128: no int16 overflow
            inline for (0..8) |m| {
                const sign: I8x32 = @select(i8, w[m] < zero, @as(I8x32, @splat(-1)), zero);
                panel.codes[i][m] = .{ @abs(w[m]), @bitCast(sign) };
                negative += simd.mulAddBytes(@abs(w[m]), sign);
            }
            panel.correction[i] = -simd.mulAddPairs(negative, ones);
            panel.d[i] = d;
        }

        /// Block i of the panel from one block's 8 unsigned registers and 8 row scales.
        fn storeUnsigned(panel: *@This(), i: usize, u: *const [8]U8x32, d: F32x8) void {
            inline for (0..8) |m| panel.codes[i][m] = .{u[m]};
            panel.correction[i] = @splat(0);
            panel.d[i] = d;
        }
    };
}

/// The prefill tile of layout `L` (gemm32.GemmTileFn): L.decodeBlock(group, row_bytes, b, &w)
/// writes block b (32 elements) of the 8 rows at `group` as 8 signed registers (register m:
/// elements 4m..4m+3 of each row, row r in lane r) and returns the rows' scales. A layout with
/// `tile_offset` gives unsigned registers through L.decodeUnsigned instead (value = u +
/// tile_offset; Q8A/Q8P activations, whose block sums bring the offset back). L.rows_dots
/// serve the n mod 8 trailing rows, and every row on the scalar path; L.Activations (default
/// Q8aActivations) addresses the activation blocks.
pub fn Tile(comptime L: type) type {
    const Acts = if (@hasDecl(L, "Activations")) L.Activations else Q8aActivations;
    const signed = !@hasDecl(L, "tile_offset");
    return struct {
        /// Each group of 8 rows is decoded into a Panel once per K slice and token group, then
        /// the tokens pass 8 at a time through blockSums.
        pub fn gemmTile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            const simd_rows = if (cpu_path.simd()) groupedRows(n_rows) else 0;
            const n_blocks = k / 32;
            var panel: Panel(signed) = undefined;
            var acc: [token_group / tile_tokens][tile_tokens]F32x8 = undefined;
            var r: usize = 0;
            while (r < simd_rows) : (r += group_rows) {
                const group = w + r * w_row_bytes;
                var token: usize = 0;
                while (token < n_tokens) : (token += token_group) {
                    const tokens_here = @min(token_group, n_tokens - token);
                    const octs = std.math.divCeil(usize, tokens_here, tile_tokens) catch unreachable;
                    @memset(acc[0..octs], @splat(@splat(0)));
                    var b0: usize = 0;
                    while (b0 < n_blocks) : (b0 += slice_blocks) {
                        const count = @min(slice_blocks, n_blocks - b0);
                        for (0..count) |i| {
                            if (signed) {
                                var regs: [8]I8x32 = undefined;
                                const d = L.decodeBlock(group, w_row_bytes, b0 + i, &regs);
                                panel.store(i, &regs, d);
                            } else {
                                var regs: [8]U8x32 = undefined;
                                const d = L.decodeUnsigned(group, w_row_bytes, b0 + i, &regs);
                                panel.storeUnsigned(i, &regs, d);
                            }
                        }
                        for (0..octs) |o| {
                            const first = token + o * tile_tokens;
                            switch (@min(tile_tokens, n_tokens - first)) {
                                inline 1...tile_tokens => |ncols| panelTokens(Acts, signed, if (signed) 0 else L.tile_offset, ncols, &panel, act + first * act_stride, act_stride, n_blocks, b0, count, acc[o][0..ncols]),
                                else => unreachable,
                            }
                        }
                    }
                    for (0..tokens_here) |t| y[(token + t) * y_row_stride + r ..][0..group_rows].* = acc[t / tile_tokens][t % tile_tokens];
                }
            }
            if (simd_rows == n_rows) return;
            var token: usize = 0;
            while (token < n_tokens) : (token += block32.ncols_max) {
                const ncols = @min(block32.ncols_max, n_tokens - token);
                L.rows_dots[ncols - 1](w, w_row_bytes, n_rows, simd_rows, n_rows, act + token * act_stride, act_stride, k, y + token * y_row_stride + simd_rows, y_row_stride);
            }
        }
    };
}

/// Blocks b0..b0+count of the panel against `ncols` tokens: acc[c] lane r += d_r·da_c·Σ w_r·q_c.
/// Within a run of activation blocks the columns' block addresses are fixed offsets from the
/// run's, so the asm's pointers change once per run.
inline fn panelTokens(comptime Acts: type, comptime signed: bool, comptime offset: f32, comptime ncols: usize, panel: *const Panel(signed), act: [*]const u8, act_stride: usize, n_blocks: usize, b0: usize, count: usize, acc: *[ncols]F32x8) void {
    const run = Acts.run_blocks;
    const n_runs = n_blocks / run * run;
    var i: usize = 0;
    while (i + run <= count and b0 + i + run <= n_runs) : (i += run) {
        var base: [ncols][*]const u8 = undefined;
        inline for (0..ncols) |c| base[c] = Acts.runBase(act + c * act_stride, b0 + i);
        // Unsigned: offset·sa for the run's blocks, one vector multiply per token instead of a
        // scalar multiply and a register broadcast per block (IQ4_NL_R8 t=512, ~+4% per core).
        var offset_sums: [ncols]@Vector(4, f32) = undefined;
        if (!signed) {
            inline for (0..ncols) |c| offset_sums[c] = @as(@Vector(4, f32), @splat(offset)) * Acts.runSums(act + c * act_stride, b0 + i);
        }
        inline for (0..run) |j| {
            const isum = blockSums(signed, ncols, @ptrCast(&panel.codes[i + j]), panel.correction[i + j], base, Acts.q_offset + 32 * j);
            inline for (0..ncols) |c| {
                const row = act + c * act_stride;
                accumulate(signed, &acc[c], isum[c], panel.d[i + j], Acts.scale(row, b0 + i + j), if (signed) 0 else offset_sums[c][j]);
            }
        }
    }
    while (i < count) : (i += 1) {
        var q: [ncols][*]const u8 = undefined;
        var da: [ncols]f32 = undefined;
        var offset_sum: [ncols]f32 = undefined;
        inline for (0..ncols) |c| {
            const a = Acts.single(act + c * act_stride, b0 + i, n_blocks);
            q[c] = a.q;
            da[c] = a.d;
            offset_sum[c] = if (signed) 0 else offset * a.s;
        }
        const isum = blockSums(signed, ncols, @ptrCast(&panel.codes[i]), panel.correction[i], q, 0);
        inline for (0..ncols) |c| accumulate(signed, &acc[c], isum[c], panel.d[i], da[c], offset_sum[c]);
    }
}

/// acc lane r += d_r·(da·isum_r + offset_sum): the block's products for 8 rows, plus for
/// unsigned codes (value = u + offset) offset_sum = offset·sa, the offset times the activation
/// block's sum sa = da·Σq.
inline fn accumulate(comptime signed: bool, acc: *F32x8, isum: I32x8, d: F32x8, da: f32, offset_sum: f32) void {
    if (signed) {
        acc.* = @mulAdd(F32x8, @floatFromInt(isum), d * @as(F32x8, @splat(da)), acc.*);
    } else {
        const block = @mulAdd(F32x8, @floatFromInt(isum), @splat(da), @splat(offset_sum));
        acc.* = @mulAdd(F32x8, block, d, acc.*);
    }
}

/// Where the registers start in the test's block bytes (as in a Q8_0_R8 group block).
const codes_offset = 16;

/// blockSums and its scalar twin on block 0 of `panel` against 8 activation columns, both
/// checked against Σ w·a: `w[m][4r + j]` is the weight value register m holds for row r.
fn expectBlockSumsExact(comptime signed: bool, panel: *const Panel(signed), w: *const [8][32]i16, acts: *const [8][32]u8) !void {
    var q: [8][*]const u8 = undefined;
    for (&q, acts) |*p, *a| p.* = a;
    const got = blockSums(signed, 8, @ptrCast(&panel.codes[0]), panel.correction[0], q, 0);
    const twin = blockSumsScalar(signed, 8, @ptrCast(&panel.codes[0]), panel.correction[0], q, 0);
    for (0..8) |c| {
        for (0..group_rows) |r| {
            var want: i32 = 0;
            for (0..32) |e| {
                const a: i8 = @bitCast(acts[c][e]);
                want += @as(i32, w[e / 4][4 * r + e % 4]) * a;
            }
            try std.testing.expectEqual(want, got[c][r]);
            try std.testing.expectEqual(want, twin[c][r]);
        }
    }
}

test "blockSums: the sign-xor sums are w·a exactly, at the int16 edges too (w = −128, a = ±127)" {
    var prng = std.Random.DefaultPrng.init(71);
    const random = prng.random();
    var group: [codes_offset + 256]u8 = undefined;
    var acts: [8][32]u8 = undefined;
    for (0..40) |round| {
        random.bytes(&group);
        for (&acts) |*a| {
            for (a) |*v| v.* = @bitCast(random.intRangeAtMost(i8, -127, 127));
        }
        if (round % 2 == 0) {
            // The extremes: every weight −128 or 127 and every activation ±127.
            for (group[codes_offset..]) |*v| v.* = if (random.boolean()) 0x80 else 0x7f;
            for (&acts) |*a| {
                for (a) |*v| v.* = if (random.boolean()) 0x81 else 0x7f;
            }
        }
        var regs: [8]I8x32 = undefined;
        for (&regs, 0..) |*reg, m| reg.* = @bitCast(group[codes_offset + 32 * m ..][0..32].*);
        var panel: Panel(true) = undefined;
        panel.store(0, &regs, @splat(1));
        var w: [8][32]i16 = undefined;
        for (&w, regs) |*values, reg| values.* = @as(@Vector(32, i16), reg);
        try expectBlockSumsExact(true, &panel, &w, &acts);
    }
}

test "blockSums: unsigned codes against pair-bounded activations are Σ u·a exactly, at the int16 edge too (u = 240, pairs 127 + 9)" {
    var prng = std.Random.DefaultPrng.init(72);
    const random = prng.random();
    var u: [8]U8x32 = undefined;
    var acts: [8][32]u8 = undefined;
    for (0..40) |round| {
        const extreme = round % 2 == 0;
        for (&u) |*reg| {
            for (0..32) |byte| reg[byte] = if (extreme) 240 else random.intRangeAtMost(u8, 0, 240);
        }
        // Q8P's bound (common.q8p_pair_max): |a_2j| + |a_2j+1| ≤ 136; the extremes take it
        // with one sign per pair, where a vpmaddubsw pair reaches ±240·136 = ±32640.
        for (&acts) |*a| {
            var j: usize = 0;
            while (j < 32) : (j += 2) {
                const sign: i16 = if (random.boolean()) 1 else -1;
                const first: i16 = if (extreme) 127 else random.intRangeAtMost(i16, -127, 127);
                const room: i16 = common.q8p_pair_max - @as(i16, @intCast(@abs(first)));
                const second: i16 = if (extreme) 9 else random.intRangeAtMost(i16, -@min(room, 127), @min(room, 127));
                a[j] = @bitCast(@as(i8, @intCast(if (extreme) sign * first else first)));
                a[j + 1] = @bitCast(@as(i8, @intCast(if (extreme) sign * second else second)));
            }
        }
        var panel: Panel(false) = undefined;
        panel.storeUnsigned(0, &u, @splat(1));
        var w: [8][32]i16 = undefined;
        for (&w, u) |*values, reg| values.* = @as(@Vector(32, i16), reg);
        try expectBlockSumsExact(false, &panel, &w, &acts);
    }
}
