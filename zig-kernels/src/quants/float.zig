//! The float weight types F32 (0), F16 (1) and BF16 (30) (MLA_SPEC §3.11): dot products against
//! f32 activation rows (no activation quantization), row conversions, and the SIMD/scalar twins.
//! Any row length works; the SIMD loop does 8 elements at a time and the tail scalar.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

const F32x8 = simd.F32x8;
const DotFn = block32.DotFn;

/// One float element type: `Element` is f32, f16 or the marker `Bf16`.
pub const Bf16 = struct {};

pub fn Float(comptime Element: type) type {
    return struct {
        pub const block_elements = 1;
        pub const block_bytes = if (Element == f32) 4 else 2;

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

        inline fn act1(act: [*]const u8, i: usize) f32 {
            const p: *align(1) const f32 = @ptrCast(act + i * 4);
            return p.*;
        }

        inline fn act8(act: [*]const u8, i: usize) F32x8 {
            const p: *align(1) const [8]f32 = @ptrCast(act + i * 4);
            return p.*;
        }

        /// Dot products for 1..4 activation rows, indexed by ncols − 1.
        pub const dots: [block32.ncols_max]DotFn = .{ dot(1), dot(2), dot(3), dot(4) };

        fn dot(comptime ncols: usize) DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    var sum: [ncols]f32 = @splat(0);
                    var i: usize = 0;
                    if (cpu_path.simd()) {
                        // Two accumulators per row hide the FMA latency of a single chain.
                        var acc: [ncols][2]F32x8 = @splat(.{ @splat(0), @splat(0) });
                        while (i + 16 <= k) : (i += 16) {
                            const w0 = load8(w + i * block_bytes);
                            const w1 = load8(w + (i + 8) * block_bytes);
                            inline for (0..ncols) |c| {
                                acc[c][0] = @mulAdd(F32x8, w0, act8(act + c * act_stride, i), acc[c][0]);
                                acc[c][1] = @mulAdd(F32x8, w1, act8(act + c * act_stride, i + 8), acc[c][1]);
                            }
                        }
                        inline for (0..ncols) |c| sum[c] = @reduce(.Add, acc[c][0] + acc[c][1]);
                    }
                    while (i < k) : (i += 1) {
                        const wv = load1(w + i * block_bytes);
                        inline for (0..ncols) |c| sum[c] += wv * act1(act + c * act_stride, i);
                    }
                    inline for (0..ncols) |c| out[c] = sum[c];
                }
            }.call;
        }

        /// The GEMM tile kernel (gemm32.GemmTileFn; `act` holds f32 rows `act_stride` bytes
        /// apart): register tiles of 3 rows × 4 tokens over all of K, so each converted weight
        /// vector serves 4 tokens and each activation vector 3 rows (12 FMAs per 7 loads, 15 of
        /// 16 registers; the 4-token dots need 5 loads per 4 FMAs and are load-bound).
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
            while (i + 8 <= k) : (i += 8) {
                var wv: [rows]F32x8 = undefined;
                inline for (0..rows) |r| wv[r] = load8(w + r * w_row_bytes + i * block_bytes);
                inline for (0..cols) |c| {
                    const a = act8(act + c * act_stride, i);
                    inline for (0..rows) |r| acc[r][c] = @mulAdd(F32x8, wv[r], a, acc[r][c]);
                }
            }
            inline for (0..rows) |r| {
                inline for (0..cols) |c| {
                    var sum = @reduce(.Add, acc[r][c]);
                    for (i..k) |e| sum += load1(w + r * w_row_bytes + e * block_bytes) * act1(act + c * act_stride, e);
                    out[r][c] = sum;
                }
            }
        }

        /// Scalar twin of tileSimd.
        fn tileScalar(rows: usize, cols: usize, w: [*]const u8, w_row_bytes: usize, act: [*]const u8, act_stride: usize, k: usize, out: *[tile_rows][tile_cols]f32) void {
            for (0..rows) |r| {
                for (0..cols) |c| {
                    var sum: f32 = 0;
                    for (0..k) |e| sum += load1(w + r * w_row_bytes + e * block_bytes) * act1(act + c * act_stride, e);
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
    var y: [t * n_max]f32 = undefined;
    inline for (.{ F32, F16, BF16 }) |T| {
        for (0..n_max) |r| {
            T.quantizeRow(&w_f32[r], &weight[r]);
            T.dequantizeRow(&weight[r], &w_deq[r]);
        }
        for ([_]usize{ 19, 27 }) |n| {
            for ([_]bool{ true, false }) |use_simd| {
                cpu_path.use_simd.store(use_simd, .monotonic);
                defer cpu_path.use_simd.store(true, .monotonic);
                @memset(&y, std.math.nan(f32));
                T.gemmTile(@ptrCast(weight.ptr), k * 4, n, @ptrCast(x.ptr), k * 4, t, k, &y, n);
                // Each product and each addition rounds once (2⁻²⁴ relative), each rounding at
                // most 2⁻²⁴·Σ|w·x|. SIMD: a chain of k/8 FMAs per lane, 3 for the horizontal
                // sum, one per tail element; scalar: one chain over all of K.
                const roundings: f64 = if (use_simd) k / 8 + 3 + k % 8 + 1 else k + 1;
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
