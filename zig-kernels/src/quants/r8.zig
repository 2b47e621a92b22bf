//! The "r8" repacked layout of the 4-bit 32-element block types (IQ4_NL, Q4_0): 8 rows
//! interleaved, made once at load so the GEMV needs no horizontal sums. A matrix of n rows keeps
//! its byte count; its first n − n mod 8 rows form groups of 8 (8 × row_bytes bytes each) and the
//! n mod 8 trailing rows keep the per-row x4 layout (x4.zig). Block b of a group (144 bytes):
//!
//!     [d(row 0) … d(row 7): 8 × fp16]
//!     [piece p = 0..3, 32 bytes: byte 4r + j = code(r, 8p + j) | code(r, 8p + 4 + j) << 4]
//!
//! where code(r, e) is the 4-bit code of element e of row r's block b. So the low nibbles of
//! piece p are elements 8p..8p+3 of all 8 rows (4 bytes per row) and the high nibbles elements
//! 8p+4..8p+7: after one table lookup, each 32-bit lane holds 4 weights of one row, and one
//! 4-byte broadcast of the activations meets all 8 rows in one vpmaddubsw. vpmaddwd then leaves
//! row r's partial sum in lane r, the block's 8 sums need no reduction, and one FMA with the 8
//! row scales accumulates them. Against x4 (one row at a time, three vphaddd per 4 blocks) the
//! IQ4_NL GEMV is ~1.4× faster per core, Q4_0 ~1.9× (bench/results/kernel_limits.md). IQ4_NL
//! multiplies its codebook shifted to unsigned, against Q8P activations (see kernel_offset): no
//! sign handling, another ~1.3×.
//!
//! Rows of a group are not separately addressable, so the kernels take a matrix and a row range
//! starting at a multiple of 8 (`RowsDotFn`); callers cut their work on 8-row boundaries. For
//! many tokens IQ4_NL takes sign_xor_tile's unsigned panel, 8 tokens per decoded register; Q4_0,
//! whose codes let 8 products share one vpmaddwd, keeps these dots, 4 tokens at a time
//! (quants.zig, groupedTraitsOf).
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const x4 = @import("x4.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const iq4_nl = @import("iq4_nl.zig");
const q4_0 = @import("q4_0.zig");
const sign_xor_tile = @import("sign_xor_tile.zig");
const prefetch = @import("prefetch.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const ones: I16x16 = @splat(1);

/// Rows per interleaved group.
pub const group_rows = 8;
/// Bytes of one block of a group.
const group_block_bytes = group_rows * 18;

/// `y[c·y_stride + (r − r0)] = row r · activation row c` for rows r0 ≤ r < r1 of a matrix of
/// `n_rows` rows (`row_bytes` apart from `w`) and c < ncols; r0 is a multiple of group_rows, r1
/// too unless it lies among the n mod 8 trailing rows.
pub const RowsDotFn = *const fn (w: [*]const u8, row_bytes: usize, n_rows: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void;

/// Rows of an `n_rows`-row matrix that lie in whole groups; the rest keep a per-row layout.
pub inline fn groupedRows(n_rows: usize) usize {
    return n_rows / group_rows * group_rows;
}

/// The row-range dots of an interleaved layout `L` (here, q4_k_r8.zig), indexed by ncols − 1:
/// whole groups through `L.groupSimd` / `L.groupScalar(ncols, group, act, act_stride, k, y,
/// y_stride)`, the trailing rows through the per-row `tail_dots` of their layout.
pub fn rowsDots(comptime L: type, comptime tail_dots: [block32.ncols_max]block32.DotFn) [block32.ncols_max]RowsDotFn {
    var fns: [block32.ncols_max]RowsDotFn = undefined;
    for (&fns, 1..) |*f, ncols| f.* = RowsDot(L, tail_dots[ncols - 1], ncols).call;
    return fns;
}

/// Row-range dots of a per-row layout: every row through `dots` (a grouped tile's fallback for
/// file rows, sign_xor_tile.zig).
pub fn perRowDots(comptime dots: [block32.ncols_max]block32.DotFn) [block32.ncols_max]RowsDotFn {
    return perRowDotsOf(dots, true);
}

/// Row-range dots of a per-row layout whose `dots` prefetch their own weight stream as they go
/// (the float types): every row through `dots`, without perRowDots' burst ahead of each row.
pub fn streamedRowDots(comptime dots: [block32.ncols_max]block32.DotFn) [block32.ncols_max]RowsDotFn {
    return perRowDotsOf(dots, false);
}

fn perRowDotsOf(comptime dots: [block32.ncols_max]block32.DotFn, comptime burst: bool) [block32.ncols_max]RowsDotFn {
    var fns: [block32.ncols_max]RowsDotFn = undefined;
    for (&fns, 1..) |*f, ncols| f.* = PerRowDot(dots[ncols - 1], ncols, burst).call;
    return fns;
}

fn PerRowDot(comptime dot: block32.DotFn, comptime ncols: usize, comptime burst: bool) type {
    return struct {
        fn call(w: [*]const u8, row_bytes: usize, _: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            rowRange(burst, dot, ncols, w, row_bytes, r0, r1, act, act_stride, k, y, y_stride);
        }
    };
}

/// Rows [r0, r1) one at a time through a per-row `dot` for `ncols` activation rows, each row's
/// weights prefetched ahead of it (RowsDotFn's contract; quants.rowsDot's fallback too).
pub inline fn perRowRange(dot: block32.DotFn, ncols: usize, w: [*]const u8, row_bytes: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    rowRange(true, dot, ncols, w, row_bytes, r0, r1, act, act_stride, k, y, y_stride);
}

/// perRowRange's loop; `burst` prefetches each row's bytes ahead of its dot.
inline fn rowRange(comptime burst: bool, dot: block32.DotFn, ncols: usize, w: [*]const u8, row_bytes: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    for (r0..r1) |r| {
        var part: [block32.ncols_max]f32 = undefined;
        if (burst) prefetch.rowAhead(w + r * row_bytes, row_bytes);
        dot(w + r * row_bytes, act, act_stride, k, &part);
        for (0..ncols) |c| y[c * y_stride + r - r0] = part[c];
    }
}

fn RowsDot(comptime L: type, comptime tail_dot: block32.DotFn, comptime ncols: usize) type {
    return struct {
        fn call(w: [*]const u8, row_bytes: usize, n_rows: usize, r0: usize, r1: usize, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            std.debug.assert(k % L.block_elements == 0 and r0 % group_rows == 0 and r0 <= r1 and r1 <= n_rows);
            // Groups are whole: a range ends on a group boundary or among the trailing rows.
            std.debug.assert(r1 % group_rows == 0 or r1 >= groupedRows(n_rows));
            const grouped_end = @min(r1, groupedRows(n_rows));
            const use_simd = cpu_path.simd();
            var r = r0;
            while (r < grouped_end) : (r += group_rows) {
                const group = w + r * row_bytes;
                const out = y + (r - r0);
                if (use_simd) L.groupSimd(ncols, group, act, act_stride, k, out, y_stride) else L.groupScalar(ncols, group, act, act_stride, k, out, y_stride);
            }
            PerRowDot(tail_dot, ncols, true).call(w, row_bytes, n_rows, r, r1, act, act_stride, k, y + (r - r0), y_stride);
        }
    };
}

/// 8 fp16 values (one per row of a group) as f32 with one vcvtph2ps.
pub inline fn scales8(src: [*]const u8) F32x8 {
    const bits: @Vector(8, u16) = @as(*align(1) const [8]u16, @ptrCast(src)).*;
    return asm ("vcvtph2ps %[in], %[out]"
        : [out] "=x" (-> F32x8),
        : [in] "x" (bits),
    );
}

/// The 4 bytes at q in every 32-bit lane: one activation word meets all 8 rows.
pub inline fn broadcast4(q: [*]const u8) I8x32 {
    const word: @Vector(8, u32) = @splat(std.mem.readInt(u32, q[0..4], .little));
    return @bitCast(word);
}

/// A high-bit plane (q5_0_r8.zig, q5_k_r8 in q4_k_r8.zig): byte 4r + j, bit m is the high bit of
/// element 4m + j of row r. Returns 0x10 in byte 4r + j where that bit is set, for register m
/// (elements 4m..4m+3 of every row): one 16-bit shift and one mask, since the bits a 16-bit shift
/// carries across bytes never land on bit 4.
pub inline fn highBits(plane: U8x32, comptime m: usize) U8x32 {
    const words: @Vector(16, u16) = @bitCast(plane);
    const shifted: U8x32 = @bitCast(if (m < 4) words << @splat(4 - m) else if (m > 4) words >> @splat(m - 4) else words);
    return shifted & @as(U8x32, @splat(0x10));
}

/// One row's 4 plane bytes (byte j, bit m: element 4m + j) as 0x10 or 0 per element, in
/// element order (the GEMM decoders, which gather one row at a time).
pub inline fn rowHighBits(plane: [4]u8) U8x32 {
    const vec: @Vector(4, u8) = plane;
    const spread = @shuffle(u8, vec, undefined, [4]i32{ 0, 1, 2, 3 } ** 8);
    const bit: U8x32 = [4]u8{ 1, 1, 1, 1 } ++ [4]u8{ 2, 2, 2, 2 } ++ [4]u8{ 4, 4, 4, 4 } ++ [4]u8{ 8, 8, 8, 8 } ++
        [4]u8{ 16, 16, 16, 16 } ++ [4]u8{ 32, 32, 32, 32 } ++ [4]u8{ 64, 64, 64, 64 } ++ [4]u8{ 128, 128, 128, 128 };
    const zero: U8x32 = @splat(0);
    return @select(u8, (spread & bit) != zero, @as(U8x32, @splat(0x10)), zero);
}

/// r8 layout → file layout (the inverse of a repackMatrix; tests) for a layout whose blocks
/// `rebuild(group, lane, b, out)` rebuilds in the file layout; trailing rows are copied.
pub fn unpackGroups(comptime block_elements: usize, comptime block_bytes: usize, comptime rebuild: fn ([*]const u8, usize, usize, *[block_bytes]u8) void, src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    const nb = k / block_elements;
    for (0..n_rows) |r| {
        if (r >= groupedRows(n_rows)) {
            @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
            continue;
        }
        const group = src + (r / group_rows) * group_rows * row_bytes;
        for (0..nb) |b| rebuild(group, r % group_rows, b, dst[r * row_bytes + b * block_bytes ..][0..block_bytes]);
    }
}

/// Scalar twin of a K-quant r8 layout's groupSimd: each row's super-blocks rebuilt in the file
/// layout (`rebuild(group, lane, b, out)`), then the file type's scalar dot against Q8_K.
pub fn superGroupScalar(
    comptime ncols: usize,
    comptime block_bytes: usize,
    comptime rebuild: fn ([*]const u8, usize, usize, *[block_bytes]u8) void,
    comptime dotScalar: fn ([*]const u8, *align(1) const common.BlockQ8K) f32,
    group: [*]const u8,
    act: [*]const u8,
    act_stride: usize,
    k: usize,
    y: [*]f32,
    y_stride: usize,
) void {
    for (0..group_rows) |lane| {
        var sum: [ncols]f32 = @splat(0);
        for (0..k / 256) |b| {
            var block: [block_bytes]u8 = undefined;
            rebuild(group, lane, b, &block);
            inline for (0..ncols) |c| sum[c] += dotScalar(&block, common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K)));
        }
        inline for (0..ncols) |c| y[c * y_stride + lane] = sum[c];
    }
}

/// Scalar twin of a 32-element block type's r8 groupSimd (`Base`: decodeScalar, scale, and
/// has_min with m at byte 2): each row's blocks rebuilt in the file layout, exact integer block
/// sums of the decoded values, plus m·s for a type with a min.
pub fn blockGroupScalar(
    comptime Base: type,
    comptime ncols: usize,
    comptime rebuild: fn ([*]const u8, usize, usize, *[Base.block_bytes]u8) void,
    group: [*]const u8,
    act: [*]const u8,
    act_stride: usize,
    k: usize,
    y: [*]f32,
    y_stride: usize,
) void {
    const has_min = @hasDecl(Base, "has_min") and Base.has_min;
    const n_blocks = k / 32;
    const n_full = n_blocks / 4 * 4;
    for (0..group_rows) |lane| {
        var sum: [ncols]f32 = @splat(0);
        for (0..n_blocks) |b| {
            var block: [Base.block_bytes]u8 = undefined;
            rebuild(group, lane, b, &block);
            var values: [32]i32 = undefined;
            Base.decodeScalar(&block, &values);
            const dw = Base.scale(&block);
            inline for (0..ncols) |c| {
                const a = common.activationBlock(act + c * act_stride, b, n_full);
                var isum: i32 = 0;
                for (values, a.q) |v, x| isum += v * x;
                sum[c] += dw * a.d * @as(f32, @floatFromInt(isum));
                if (has_min) sum[c] += common.f16At(block[2..]) * a.s;
            }
        }
        inline for (0..ncols) |c| y[c * y_stride + lane] = sum[c];
    }
}

/// Builds the r8 layout's kernels for `Base` (iq4_nl.zig or q4_0.zig).
pub fn R8(comptime Base: type) type {
    comptime std.debug.assert(Base.block_bytes == 18 and Base.block_elements == 32);
    const X4 = x4.X4(Base);
    return struct {
        pub const block_elements = 32;
        pub const block_bytes = 18;

        /// File layout → r8 layout for a whole matrix of `n_rows` rows of `k` elements (rows
        /// `row_bytes` apart in both buffers).
        pub fn repackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
            const nb = k / 32;
            var r: usize = 0;
            while (r < groupedRows(n_rows)) : (r += group_rows) {
                const group = dst + r * row_bytes;
                for (0..nb) |b| {
                    const out = group + b * group_block_bytes;
                    for (0..group_rows) |lane| {
                        const block = src + (r + lane) * row_bytes + b * 18;
                        @memcpy(out[2 * lane ..][0..2], block[0..2]);
                        for (0..4) |p| for (0..4) |j| {
                            out[16 + 32 * p + 4 * lane + j] = fileCode(block, 8 * p + j) | (fileCode(block, 8 * p + 4 + j) << 4);
                        };
                    }
                }
            }
            while (r < n_rows) : (r += 1) X4.repackRow(src + r * row_bytes, dst + r * row_bytes, k);
        }

        /// r8 layout → file layout (the exact inverse of repackMatrix; tests).
        pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
            const nb = k / 32;
            for (0..n_rows) |r| {
                if (r >= groupedRows(n_rows)) {
                    X4.unpackRow(src + r * row_bytes, dst + r * row_bytes, k);
                    continue;
                }
                for (0..nb) |b| blockInFileLayout(src + (r / group_rows) * group_rows * row_bytes, r % group_rows, b, dst[r * row_bytes + b * 18 ..][0..18]);
            }
        }

        /// Code of element e (0..31) of a file-layout block.
        inline fn fileCode(block: [*]const u8, e: usize) u8 {
            return if (e < 16) block[2 + e] & 0x0F else block[2 + e - 16] >> 4;
        }

        /// Block b of row `lane` of the group at `group`, rebuilt in the file layout.
        fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, block: *[18]u8) void {
            const src = group + b * group_block_bytes;
            @memcpy(block[0..2], src[2 * lane ..][0..2]);
            var codes: [32]u8 = undefined;
            for (0..4) |p| for (0..4) |j| {
                const byte = src[16 + 32 * p + 4 * lane + j];
                codes[8 * p + j] = byte & 0x0F;
                codes[8 * p + 4 + j] = byte >> 4;
            };
            for (0..16) |j| block[2 + j] = codes[j] | (codes[j + 16] << 4);
        }

        /// Dot products of a row range for 1..ncols_max activation rows, indexed by ncols − 1;
        /// the n mod 8 trailing rows go through x4's dots.
        pub const rows_dots = rowsDots(@This(), X4.dots);

        /// What the kernels multiply: unsigned bytes for vpmaddubsw. Q4_0's codes as stored
        /// (value = code − 8); IQ4_NL's codebook shifted by 127 into [0, 240] through one
        /// table lookup (value = byte − 127). Both offsets come back through the activation
        /// block sums s = d_a·Σq, once per block for 8 rows.
        const kernel_offset: f32 = if (Base.unsigned_quants) Base.offset else -@as(f32, Base.unsigned_shift);
        /// IQ4_NL's code → K + 127.
        const shifted_table: U8x32 = if (Base.unsigned_quants) undefined else blk: {
            var t: [32]u8 = undefined;
            for (&t, 0..) |*v, j| v.* = @intCast(@as(i16, Base.values[j % 16]) - @as(i16, @intFromFloat(kernel_offset)));
            break :blk t;
        };
        /// vpmaddubsw results summed in 16 bits before vpmaddwd. Q4_0: codes ≤ 15, so eight
        /// stay below 8·2·15·127 < 2^15. IQ4_NL: one, and only with Q8P activations, whose
        /// pairs |q_2j| + |q_2j+1| ≤ 136 keep a shifted pair within 240·136 < 2^15.
        const products_per_sum = if (Base.unsigned_quants) 8 else 1;

        /// Registers 2p and 2p + 1 of a block (piece p's low and high nibbles) as the unsigned
        /// bytes the kernels multiply.
        inline fn unsignedPair(src: [*]const u8, comptime p: usize) [2]U8x32 {
            const mask: U8x32 = @splat(0x0F);
            const bytes: U8x32 = src[16 + 32 * p ..][0..32].*;
            const codes = [2]U8x32{ bytes & mask, @as(U8x32, @bitCast(@as(@Vector(16, u16), @bitCast(bytes)) >> @splat(4))) & mask };
            if (Base.unsigned_quants) return codes;
            var u: [2]U8x32 = undefined;
            inline for (&u, codes) |*reg, code| reg.* = @bitCast(simd.shuffleBytes(@bitCast(shifted_table), @bitCast(code)));
            return u;
        }

        /// One block of a group against `ncols` activation blocks (quants at q[c], scales da[c],
        /// sums sa[c]): acc[c] lane r += d_r·da_c·Σ u_r·q_c, off[c] lane r += d_r·sa_c, u the
        /// unsigned bytes (value − kernel_offset).
        inline fn blockSimd(comptime ncols: usize, src: [*]const u8, q: [ncols][*]const u8, da: [ncols]f32, sa: [ncols]f32, acc: *[ncols]F32x8, off: *[ncols]F32x8) void {
            prefetch.blockAhead(group_block_bytes, src);
            const d8 = scales8(src);
            var isum: [ncols]I32x8 = @splat(@splat(0));
            var sum16: [ncols]I16x16 = undefined;
            inline for (0..4) |p| {
                const pair = unsignedPair(src, p);
                inline for (0..2) |h| {
                    const m = 2 * p + h;
                    const u = pair[h];
                    inline for (0..ncols) |c| {
                        const prod = simd.mulAddBytes(u, broadcast4(q[c] + 4 * m));
                        sum16[c] = if (m % products_per_sum == 0) prod else sum16[c] + prod;
                        if (m % products_per_sum == products_per_sum - 1) isum[c] += simd.mulAddPairs(sum16[c], ones);
                    }
                }
            }
            inline for (0..ncols) |c| {
                acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), d8 * @as(F32x8, @splat(da[c])), acc[c]);
                off[c] = @mulAdd(F32x8, d8, @splat(sa[c]), off[c]);
            }
        }

        pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            @setEvalBranchQuota(20000); // 5 unrolled blocks × 8 registers × ncols
            const n_blocks = k / 32;
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = @splat(@splat(0));
            var off: [ncols]F32x8 = @splat(@splat(0));
            var b: usize = 0;
            while (b < n_full) : (b += 4) {
                inline for (0..4) |m| {
                    var q: [ncols][*]const u8 = undefined;
                    var da: [ncols]f32 = undefined;
                    var sa: [ncols]f32 = undefined;
                    inline for (0..ncols) |c| {
                        const a = common.q8aGroup(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                        q[c] = @ptrCast(a.q[32 * m ..]);
                        da[c] = a.d[m];
                        sa[c] = a.s[m];
                    }
                    blockSimd(ncols, group + (b + m) * group_block_bytes, q, da, sa, &acc, &off);
                }
            }
            while (b < n_blocks) : (b += 1) {
                var q: [ncols][*]const u8 = undefined;
                var da: [ncols]f32 = undefined;
                var sa: [ncols]f32 = undefined;
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    q[c] = @ptrCast(&a.q);
                    da[c] = a.d;
                    sa[c] = a.s;
                }
                blockSimd(ncols, group + b * group_block_bytes, q, da, sa, &acc, &off);
            }
            inline for (0..ncols) |c| {
                const out: [group_rows]f32 = acc[c] + @as(F32x8, @splat(kernel_offset)) * off[c];
                y[c * y_stride ..][0..group_rows].* = out;
            }
        }

        /// Block b of the group at `group` as 8 registers of unsigned bytes (value = u +
        /// tile_offset) and the rows' scales: sign_xor_tile's unsigned panel.
        pub inline fn decodeUnsigned(group: [*]const u8, _: usize, b: usize, u: *[8]U8x32) F32x8 {
            const src = group + b * group_block_bytes;
            inline for (0..4) |p| {
                const pair = unsignedPair(src, p);
                u[2 * p] = pair[0];
                u[2 * p + 1] = pair[1];
            }
            return scales8(src);
        }
        /// What decodeUnsigned's bytes stand for: value = u + tile_offset.
        pub const tile_offset = kernel_offset;
        /// Prefill: 8 tokens per panel load (sign_xor_tile.zig, unsigned panel). IQ4_NL's
        /// traits take it from `gemm_tokens_min` tokens; Q4_0's dots beat it at every count
        /// (quants.zig).
        pub const gemmTile = sign_xor_tile.Tile(@This()).gemmTile;
        /// Below this many tokens IQ4_NL_R8's dots beat the tile (they tie at 16).
        pub const gemm_tokens_min = 32;

        /// Scalar twin of groupSimd: each row's blocks rebuilt in the file layout and judged
        /// like x4's scalar path.
        pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            const n_blocks = k / 32;
            for (0..group_rows) |lane| {
                var sum: [ncols]f32 = @splat(0);
                for (0..n_blocks) |b| {
                    var block: [18]u8 = undefined;
                    blockInFileLayout(group, lane, b, &block);
                    X4.blockDotScalar(ncols, &block, act, act_stride, b, n_blocks, &sum);
                }
                inline for (0..ncols) |c| y[c * y_stride + lane] = sum[c];
            }
        }
    };
}

test "r8 repack round-trips; its row-range dots match the file rows'" {
    // The trailing rows are x4 rows; the file layout's dots judge them too.
    try r8_layout_test.expectLayoutMatchesFile(R8(iq4_nl), iq4_nl, .{ .k = 352, .file_type = 20, .seed = 23 });
    try r8_layout_test.expectLayoutMatchesFile(R8(q4_0), q4_0, .{ .k = 352, .file_type = 2, .seed = 24 });
}
