//! The float weight types F32 (0), F16 (1) and BF16 (30) (MLA_SPEC §3.11): dot products against
//! f32 activation rows (no activation quantization), row conversions, and the SIMD/scalar twins.
//! Any row length works; the SIMD loops do 8 or 16 elements at a time and the tail scalar.
//!
//! BF16 converts 16 weights from one 32-byte load: the low halves of its 8 words shifted up are
//! the even elements, the high halves masked the odd ones (a shift and an and per 16, against a
//! widening load and a shift per 8, on the pipes the FMAs use). So its activation rows are f32
//! in the split order (splitPosition): each whole 16 elements evens first, then odds.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const prefetch = @import("prefetch.zig");
const r8 = @import("r8.zig");

const F32x8 = simd.F32x8;
const DotFn = block32.DotFn;

/// One float element type: `Element` is f32, f16 or the marker `Bf16`.
pub const Bf16 = struct {};

/// BF16's high halves of 8 words: a word & this is its odd element as f32 (loadSplit, splitTile).
const bf16_high_half: @Vector(8, u32) = @splat(0xFFFF0000);

/// Where element i of a k-element row sits in BF16's activation rows: within each whole 16
/// elements the 8 even ones come first, then the 8 odd ones; the k mod 16 last stay in place.
pub fn splitPosition(i: usize, k: usize) usize {
    if (i >= k / 16 * 16) return i;
    const j = i % 16;
    return i - j + (j % 2) * 8 + j / 2;
}

/// Copies the f32 row `x` to `dst` in the split order (splitPosition), 16 elements per two
/// shuffles; the tail is copied as is.
pub fn splitRow(x: []const f32, dst: [*]u8) void {
    const out: [*]align(1) f32 = @ptrCast(dst);
    var i: usize = 0;
    while (i + 16 <= x.len) : (i += 16) {
        const lo: F32x8 = x[i..][0..8].*;
        const hi: F32x8 = x[i + 8 ..][0..8].*;
        out[i..][0..8].* = @shuffle(f32, lo, hi, [8]i32{ 0, 2, 4, 6, ~@as(i32, 0), ~@as(i32, 2), ~@as(i32, 4), ~@as(i32, 6) });
        out[i + 8 ..][0..8].* = @shuffle(f32, lo, hi, [8]i32{ 1, 3, 5, 7, ~@as(i32, 1), ~@as(i32, 3), ~@as(i32, 5), ~@as(i32, 7) });
    }
    @memcpy(out[i..x.len], x[i..]);
}

pub fn Float(comptime Element: type) type {
    return struct {
        pub const block_elements = 1;
        pub const block_bytes = if (Element == f32) 4 else 2;
        /// Whether the activation rows are in the split order (BF16).
        pub const split = Element == Bf16;

        inline fn load8(w: [*]const u8) F32x8 {
            if (Element == f32) {
                const bytes: *align(1) const [8]f32 = @ptrCast(w);
                return bytes.*;
            } else if (Element == f16) {
                const halves: *align(1) const [8]f16 = @ptrCast(w);
                const v: @Vector(8, f16) = halves.*;
                return @floatCast(v); // vcvtph2ps with F16C
            } else {
                const bits: *align(1) const [8]u16 = @ptrCast(w);
                const wide: @Vector(8, u32) = @as(@Vector(8, u16), bits.*);
                return @bitCast(wide << @splat(16));
            }
        }

        inline fn load1(w: [*]const u8) f32 {
            const bits = std.mem.readInt(u16, w[0..2], .little);
            if (Element == f32) return @bitCast(std.mem.readInt(u32, w[0..4], .little));
            if (Element == f16) return @floatCast(@as(f16, @bitCast(bits)));
            return common.bf16ToF32(bits);
        }

        /// BF16's 16 elements at w: the even ones, then the odd ones (the file comment).
        inline fn loadSplit(w: [*]const u8) [2]F32x8 {
            const words: *align(1) const @Vector(8, u32) = @ptrCast(w);
            const v = words.*;
            return .{ @bitCast(v << @splat(16)), @bitCast(v & bf16_high_half) };
        }

        /// Element i of a k-element activation row.
        inline fn act1(act: [*]const u8, i: usize, k: usize) f32 {
            const p: *align(1) const f32 = @ptrCast(act + (if (split) splitPosition(i, k) else i) * 4);
            return p.*;
        }

        inline fn act8(act: [*]const u8, i: usize) F32x8 {
            const p: *align(1) const [8]f32 = @ptrCast(act + i * 4);
            return p.*;
        }

        /// Dot products for 1..4 activation rows, indexed by ncols − 1.
        pub const dots: [block32.ncols_max]DotFn = .{ dot(1), dot(2), dot(3), dot(4) };
        /// Row ranges through `dots`, which prefetch as they stream: with a burst ahead of each
        /// row instead (342 lines for a 10944-wide F16 row) the GEMVs read 60–81% of the probe
        /// (F16, BF16), with the prefetch in the loop 72–95% (kernel_limits.md §11).
        pub const rows_dots = r8.streamedRowDots(dots);

        fn dot(comptime ncols: usize) DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    var sum: [ncols]f32 = @splat(0);
                    var i: usize = 0;
                    if (cpu_path.simd()) {
                        // Two accumulators per row hide the FMA latency of a single chain.
                        var acc: [ncols][2]F32x8 = @splat(.{ @splat(0), @splat(0) });
                        while (i + 16 <= k) : (i += 16) {
                            // One line prefetch.distance ahead per step (F32: every line; 16-bit:
                            // each line twice, a spare load-port µop).
                            prefetch.lineAhead(w + i * block_bytes);
                            // BF16: evens against act[i..i+8], odds against act[i+8..i+16].
                            const w0, const w1 = if (split) loadSplit(w + i * block_bytes) else .{ load8(w + i * block_bytes), load8(w + (i + 8) * block_bytes) };
                            inline for (0..ncols) |c| {
                                acc[c][0] = @mulAdd(F32x8, w0, act8(act + c * act_stride, i), acc[c][0]);
                                acc[c][1] = @mulAdd(F32x8, w1, act8(act + c * act_stride, i + 8), acc[c][1]);
                            }
                        }
                        inline for (0..ncols) |c| sum[c] = @reduce(.Add, acc[c][0] + acc[c][1]);
                    }
                    while (i < k) : (i += 1) {
                        const wv = load1(w + i * block_bytes);
                        inline for (0..ncols) |c| sum[c] += wv * act1(act + c * act_stride, i, k);
                    }
                    inline for (0..ncols) |c| out[c] = sum[c];
                }
            }.call;
        }

        /// The GEMM tile kernel (gemm32.GemmTileFn; `act` holds f32 rows `act_stride` bytes
        /// apart): register tiles of 3 rows × 4 tokens over all of K, so each converted weight
        /// vector serves 4 tokens and each activation vector 3 rows (12 FMAs per 7 loads, 15 of
        /// 16 registers; the 4-token dots need 5 loads per 4 FMAs and are load-bound). The
        /// conversions share the FMA pipes: F16's 3 vcvtph2ps per 12 FMAs hold the step to
        /// 77–82% of the FMA-only rate, BF16's split conversion to 83% (widening 8 at a time
        /// made 74–77%; kernel_limits.md §11).
        pub fn gemmTile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            std.debug.assert(n_rows > 0 and n_tokens > 0 and k > 0);
            const use_simd = cpu_path.simd();
            var token: usize = 0;
            while (token < n_tokens) : (token += tile_cols) {
                const cols: usize = @min(tile_cols, n_tokens - token);
                var row: usize = 0;
                while (row < n_rows) : (row += tile_rows) {
                    const rows: usize = @min(tile_rows, n_rows - row);
                    const tile_w = w + row * w_row_bytes;
                    const tile_act = act + token * act_stride;
                    var out: [tile_rows][tile_cols]f32 = undefined;
                    if (use_simd) {
                        switch (rows * 8 + cols) {
                            inline 9...12, 17...20, 25...28 => |shape| tileSimd(shape / 8, shape % 8, tile_w, w_row_bytes, tile_act, act_stride, k, &out),
                            else => unreachable,
                        }
                    } else {
                        tileScalar(rows, cols, tile_w, w_row_bytes, tile_act, act_stride, k, &out);
                    }
                    for (0..cols) |c| {
                        for (0..rows) |r| y[(token + c) * y_row_stride + row + r] = out[r][c];
                    }
                }
            }
        }

        /// Rows and tokens per GEMM register tile.
        const tile_rows = 3;
        const tile_cols = 4;

        inline fn tileSimd(comptime rows: usize, comptime cols: usize, w: [*]const u8, w_row_bytes: usize, act: [*]const u8, act_stride: usize, k: usize, out: *[tile_rows][tile_cols]f32) void {
            var acc: [rows][cols]F32x8 = @splat(@splat(@splat(0)));
            var i: usize = 0;
            if (split) {
                i = k / 16 * 16;
                if (i > 0) {
                    var rows_at: [rows][*]const u8 = undefined;
                    inline for (0..rows) |r| rows_at[r] = w + r * w_row_bytes;
                    var acts_at: [cols][*]const u8 = undefined;
                    inline for (0..cols) |c| acts_at[c] = act + c * act_stride;
                    acc = splitTile(rows, cols, rows_at, acts_at, i);
                }
            } else {
                while (i + 8 <= k) : (i += 8) {
                    var wv: [rows]F32x8 = undefined;
                    inline for (0..rows) |r| wv[r] = load8(w + r * w_row_bytes + i * block_bytes);
                    inline for (0..cols) |c| {
                        const a = act8(act + c * act_stride, i);
                        inline for (0..rows) |r| acc[r][c] = @mulAdd(F32x8, wv[r], a, acc[r][c]);
                    }
                }
            }
            inline for (0..rows) |r| {
                inline for (0..cols) |c| {
                    var sum = @reduce(.Add, acc[r][c]);
                    for (i..k) |e| sum += load1(w + r * w_row_bytes + e * block_bytes) * act1(act + c * act_stride, e, k);
                    out[r][c] = sum;
                }
            }
        }

        /// Scalar twin of tileSimd.
        fn tileScalar(rows: usize, cols: usize, w: [*]const u8, w_row_bytes: usize, act: [*]const u8, act_stride: usize, k: usize, out: *[tile_rows][tile_cols]f32) void {
            for (0..rows) |r| {
                for (0..cols) |c| {
                    var sum: f32 = 0;
                    for (0..k) |e| sum += load1(w + r * w_row_bytes + e * block_bytes) * act1(act + c * act_stride, e, k);
                    out[r][c] = sum;
                }
            }
        }

        /// Converts `dst.len` elements from `src` to f32.
        pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
            var i: usize = 0;
            if (cpu_path.simd()) {
                while (i + 8 <= dst.len) : (i += 8) dst[i..][0..8].* = load8(src + i * block_bytes);
            }
            while (i < dst.len) : (i += 1) dst[i] = load1(src + i * block_bytes);
        }

        /// Converts `x` to this type at `dst` (round-to-nearest-even).
        pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
            for (x, 0..) |v, i| {
                const out = dst + i * block_bytes;
                if (Element == f32) {
                    std.mem.writeInt(u32, out[0..4], @bitCast(v), .little);
                } else if (Element == f16) {
                    std.mem.writeInt(u16, out[0..2], common.f16Bits(v), .little);
                } else {
                    std.mem.writeInt(u16, out[0..2], common.f32ToBf16(v), .little);
                }
            }
        }
    };
}

/// BF16's 3 × 4 (or smaller) GEMM tile over elements [0, k16) (k16 a positive multiple of 16):
/// acc[r][c] lane j = Σ over 16-element steps of even·act + odd·act, the activations in split
/// order (`acts[c]` points at token c's row). Per 16 elements: for each half, the rows' weights
/// converted (vpslld for the evens, vpand with the mask for the odds) and `cols` activation loads
/// feeding rows × cols FMAs. Inline asm: written in Zig, the 12 accumulators, 3 converted rows
/// and an activation fill all 16 registers, and LLVM's allocator, given a function pointer's
/// runtime strides, spilled all 12 accumulators to the stack (49 against 70 GFLOP/s). The asm
/// only reads memory.
inline fn splitTile(comptime rows: usize, comptime cols: usize, w: [rows][*]const u8, acts: [cols][*]const u8, k16: usize) [rows][cols]F32x8 {
    comptime std.debug.assert(rows >= 1 and rows <= 3 and cols >= 1 and cols <= 4);
    @setEvalBranchQuota(10_000_000);
    comptime var text: []const u8 = "";
    inline for (0..rows) |r| inline for (0..cols) |c| {
        text = text ++ std.fmt.comptimePrint("vxorps %[a{d}{d}], %[a{d}{d}], %[a{d}{d}]\n", .{ r, c, r, c, r, c });
    };
    text = text ++ "xor %[i], %[i]\n1:\n";
    inline for (0..2) |half| {
        inline for (0..rows) |r| {
            text = text ++ std.fmt.comptimePrint("vmovdqu (%[w{d}],%[i],2), %%ymm{d}\n", .{ r, 13 + r });
            text = text ++ if (half == 0)
                std.fmt.comptimePrint("vpslld $16, %%ymm{d}, %%ymm{d}\n", .{ 13 + r, 13 + r })
            else
                std.fmt.comptimePrint("vpand (%[mask]), %%ymm{d}, %%ymm{d}\n", .{ 13 + r, 13 + r });
        }
        inline for (0..cols) |c| {
            text = text ++ std.fmt.comptimePrint("vmovups {d}(%[p{d}],%[i],4), %%ymm12\n", .{ 32 * half, c });
            inline for (0..rows) |r| text = text ++ std.fmt.comptimePrint("vfmadd231ps %%ymm12, %%ymm{d}, %[a{d}{d}]\n", .{ 13 + r, r, c });
        }
    }
    text = text ++ "add $16, %[i]\ncmp %[end], %[i]\njb 1b\n";
    const mask: @Vector(8, u32) align(32) = bf16_high_half;
    var a00: F32x8, var a01: F32x8, var a02: F32x8, var a03: F32x8 = .{ undefined, undefined, undefined, undefined };
    var a10: F32x8, var a11: F32x8, var a12: F32x8, var a13: F32x8 = .{ undefined, undefined, undefined, undefined };
    var a20: F32x8, var a21: F32x8, var a22: F32x8, var a23: F32x8 = .{ undefined, undefined, undefined, undefined };
    var i: usize = undefined;
    var wp: [3][*]const u8 = undefined;
    inline for (0..3) |r| wp[r] = w[@min(r, rows - 1)];
    var pp: [4][*]const u8 = undefined;
    inline for (0..4) |c| pp[c] = acts[@min(c, cols - 1)];
    asm (text
        : [a00] "=&x" (a00),
          [a01] "=&x" (a01),
          [a02] "=&x" (a02),
          [a03] "=&x" (a03),
          [a10] "=&x" (a10),
          [a11] "=&x" (a11),
          [a12] "=&x" (a12),
          [a13] "=&x" (a13),
          [a20] "=&x" (a20),
          [a21] "=&x" (a21),
          [a22] "=&x" (a22),
          [a23] "=&x" (a23),
          [i] "=&r" (i),
        : [w0] "r" (wp[0]),
          [w1] "r" (wp[1]),
          [w2] "r" (wp[2]),
          [p0] "r" (pp[0]),
          [p1] "r" (pp[1]),
          [p2] "r" (pp[2]),
          [p3] "r" (pp[3]),
          [mask] "r" (&mask),
          [end] "r" (k16),
        : .{ .memory = true, .cc = true, .ymm12 = true, .ymm13 = true, .ymm14 = true, .ymm15 = true });
    const a = [3][4]F32x8{ .{ a00, a01, a02, a03 }, .{ a10, a11, a12, a13 }, .{ a20, a21, a22, a23 } };
    var out: [rows][cols]F32x8 = undefined;
    inline for (0..rows) |r| inline for (0..cols) |c| {
        out[r][c] = a[r][c];
    };
    return out;
}

pub const F32 = Float(f32);
pub const F16 = Float(f16);
pub const BF16 = Float(Bf16);

test "float GEMM tiles match a float64 reference over row, token and K tails" {
    // 19 rows = six 3-row tiles + 1, 27 = nine whole tiles; 13 tokens = three 4-token tiles + 1;
    // k = 8·69 + 3 ends in a scalar tail.
    const k = 8 * 69 + 3;
    const n_max = 27;
    const t = 13;
    const allocator = std.testing.allocator;
    var prng = std.Random.DefaultPrng.init(29);
    const random = prng.random();
    const w_f32 = try allocator.alloc([k]f32, n_max);
    defer allocator.free(w_f32);
    const x = try allocator.alloc([k]f32, t);
    defer allocator.free(x);
    for (w_f32) |*row| for (row) |*v| {
        v.* = random.floatNorm(f32);
    };
    for (x) |*row| for (row) |*v| {
        v.* = random.floatNorm(f32);
    };
    const weight = try allocator.alloc([k * 4]u8, n_max);
    defer allocator.free(weight);
    const w_deq = try allocator.alloc([k]f32, n_max);
    defer allocator.free(w_deq);
    // BF16 reads its activation rows in the split order.
    const x_split = try allocator.alloc([k * 4]u8, t);
    defer allocator.free(x_split);
    for (x, x_split) |*row, *dst| splitRow(row, dst);
    var y: [t * n_max]f32 = undefined;
    inline for (.{ F32, F16, BF16 }) |T| {
        const act: [*]const u8 = if (T.split) @ptrCast(x_split.ptr) else @ptrCast(x.ptr);
        for (0..n_max) |r| {
            T.quantizeRow(&w_f32[r], &weight[r]);
            T.dequantizeRow(&weight[r], &w_deq[r]);
        }
        for ([_]usize{ 19, 27 }) |n| {
            for ([_]bool{ true, false }) |use_simd| {
                cpu_path.use_simd.store(use_simd, .monotonic);
                defer cpu_path.use_simd.store(true, .monotonic);
                @memset(&y, std.math.nan(f32));
                T.gemmTile(@ptrCast(weight.ptr), k * 4, n, act, k * 4, t, k, &y, n);
                // Each product and each addition rounds once (2⁻²⁴ relative), each rounding at
                // most 2⁻²⁴·Σ|w·x|. SIMD: a chain of k/8 FMAs per lane (BF16: 2 per 16
                // elements), 3 for the horizontal sum, one per tail element; scalar: one chain
                // over all of K.
                const chain: f64 = if (T.split) k / 16 * 2 + k % 16 else k / 8 + k % 8;
                const roundings: f64 = if (use_simd) chain + 3 + 1 else k + 1;
                for (0..n) |r| {
                    for (0..t) |c| {
                        var want: f64 = 0;
                        var magnitude: f64 = 0;
                        for (w_deq[r], x[c]) |a, b| {
                            want += @as(f64, a) * b;
                            magnitude += @abs(@as(f64, a) * b);
                        }
                        const bound = roundings * std.math.pow(f64, 2, -24) * magnitude;
                        try std.testing.expectApproxEqAbs(want, @as(f64, y[c * n + r]), bound);
                    }
                }
            }
        }
    }
}

test "splitRow puts element i at splitPosition(i, k), tails in place" {
    for ([_]usize{ 1, 15, 16, 37, 64 }) |k| {
        var x: [64]f32 = undefined;
        for (&x, 0..) |*v, i| v.* = @floatFromInt(i);
        var out: [64 * 4]u8 = undefined;
        splitRow(x[0..k], &out);
        const got: *align(1) const [64]f32 = @ptrCast(&out);
        for (0..k) |i| try std.testing.expectEqual(x[i], got[splitPosition(i, k)]);
    }
    // Spot values: within 16, evens first.
    try std.testing.expectEqual(@as(usize, 8), splitPosition(1, 32));
    try std.testing.expectEqual(@as(usize, 1), splitPosition(2, 32));
    try std.testing.expectEqual(@as(usize, 33), splitPosition(33, 37));
}
