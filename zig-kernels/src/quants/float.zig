//! The float weight types F32 (0), F16 (1) and BF16 (30) (MLA_SPEC §3.11): dot products against
//! f32 activation rows (no activation quantization), row conversions, and the SIMD/scalar twins.
//! Any row length works; the SIMD loop does 8 elements at a time and the tail scalar.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const gemm32 = @import("gemm32.zig");

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
        /// apart), in the outer-product form of BLIS: per K slice, 16 rows are converted to f32
        /// once into a panel with the rows in the lanes, then every 6 tokens meet it in a
        /// register tile of 16 rows × 6 tokens (12 accumulators): per element of K, 2 panel
        /// loads and 6 broadcast loads feed 12 FMAs. The 3 × 4 dot-form tile it replaces
        /// converted each weight vector again for every 4 tokens, reduced horizontally, and kept
        /// 4 tokens' whole rows (32 KiB at K = 2048) competing for L1 with the weights.
        pub fn gemmTile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            std.debug.assert(n_rows > 0 and n_tokens > 0 and k > 0);
            if (!cpu_path.simd()) return gemmScalar(w, w_row_bytes, n_rows, act, act_stride, n_tokens, k, y, y_row_stride);
            var panel: Panel = undefined;
            var k0: usize = 0;
            while (k0 < k) : (k0 += k_slice) {
                const kc = @min(k_slice, k - k0);
                var row: usize = 0;
                while (row < n_rows) : (row += panel_rows) {
                    const rows = @min(panel_rows, n_rows - row);
                    // Up to 8 rows (the last panel; small matrices such as the 64-expert
                    // router) take half a panel, one register per token.
                    const halves: usize = if (rows > 8) 2 else 1;
                    packPanel(&panel, w + row * w_row_bytes, w_row_bytes, rows, halves, k0, kc);
                    var token: usize = 0;
                    while (token < n_tokens) : (token += kernel_tokens) {
                        const out = y + token * y_row_stride + row;
                        const tile_act = act + token * act_stride + k0 * 4;
                        switch (8 * halves + @min(kernel_tokens, n_tokens - token)) {
                            inline 9...8 + kernel_tokens, 17...16 + kernel_tokens => |shape| panelTokens(shape / 8, shape % 8, &panel, kc, tile_act, act_stride, out, y_row_stride, rows, k0 == 0),
                            else => unreachable,
                        }
                    }
                }
            }
        }

        /// Rows per panel (two registers), tokens per register tile, and K elements per panel
        /// (16 KiB of f32, in L1 beside 6 tokens' 6 KiB of activations).
        const panel_rows = 16;
        const kernel_tokens = 6;
        pub const k_slice = 256;
        /// panel[e][r]: row r's weight at element k0 + e of the slice, as f32 (0 past the rows).
        const Panel = [k_slice][panel_rows]f32;

        /// Converts `rows` rows' elements k0..k0+kc into the panel's first `halves` 8-row
        /// halves, 8 × 8 at a time transposed.
        fn packPanel(panel: *Panel, w: [*]const u8, w_row_bytes: usize, rows: usize, halves: usize, k0: usize, kc: usize) void {
            for (0..halves) |half| {
                var e: usize = 0;
                while (e + 8 <= kc) : (e += 8) {
                    var block: [8]@Vector(8, u32) = undefined;
                    for (&block, half * 8..) |*v, r| {
                        v.* = if (r < rows) @bitCast(load8(w + r * w_row_bytes + (k0 + e) * block_bytes)) else @splat(0);
                    }
                    for (gemm32.transpose8(block), e..) |column, pe| panel[pe][half * 8 ..][0..8].* = @bitCast(column);
                }
                while (e < kc) : (e += 1) {
                    for (half * 8..half * 8 + 8) |r| panel[e][r] = if (r < rows) load1(w + r * w_row_bytes + (k0 + e) * block_bytes) else 0;
                }
            }
        }

        /// `cols` tokens against the panel's first `halves` halves: out[c][r] (+)= Σ_e
        /// panel[e][r]·act[c][e]. The first K slice stores, later ones add, so each chain of
        /// roundings in a register spans at most one slice.
        inline fn panelTokens(comptime halves: usize, comptime cols: usize, panel: *const Panel, kc: usize, act: [*]const u8, act_stride: usize, out: [*]f32, out_stride: usize, rows: usize, first: bool) void {
            var acc: [cols][halves]F32x8 = @splat(@splat(@splat(0)));
            var rows_of: [cols][*]align(1) const f32 = undefined;
            inline for (&rows_of, 0..) |*p, c| p.* = @ptrCast(act + c * act_stride);
            for (panel[0..kc], 0..) |*weights, e| {
                var wv: [halves]F32x8 = undefined;
                inline for (&wv, 0..) |*v, h| v.* = weights[8 * h ..][0..8].*;
                inline for (&acc, rows_of) |*token_acc, a_row| {
                    const a: F32x8 = @splat(a_row[e]);
                    inline for (token_acc, wv) |*lanes, v| lanes.* = @mulAdd(F32x8, v, a, lanes.*);
                }
            }
            inline for (acc, 0..) |token_acc, c| {
                const dst = out + c * out_stride;
                var sums: [8 * halves]f32 = @bitCast(token_acc);
                if (!first) {
                    for (sums[0..rows], dst) |*sum, prior| sum.* += prior;
                }
                @memcpy(dst[0..rows], sums[0..rows]);
            }
        }

        /// Scalar twin of gemmTile: each output one sequential sum.
        fn gemmScalar(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
            for (0..n_tokens) |c| {
                for (0..n_rows) |r| {
                    var sum: f32 = 0;
                    for (0..k) |e| sum += load1(w + r * w_row_bytes + e * block_bytes) * act1(act + c * act_stride, e);
                    y[c * y_row_stride + r] = sum;
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

test "float GEMM tiles match a float64 reference over row, token and K tails and several K slices" {
    // 19 rows = a 16-row panel + 3 (a half panel), 27 = 16 + 11 (a partial full panel);
    // 13 tokens = two 6-token tiles + 1; k = 2·256 + 8·5 + 3: three K slices, the last ending in
    // a scalar tail.
    const k = 2 * 256 + 8 * 5 + 3;
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
                // Each product and each addition rounds once (2⁻²⁴ relative). SIMD: a chain of
                // at most one K slice in a register, then one addition per slice into y;
                // scalar: one chain over all of K. Each rounding is at most 2⁻²⁴·Σ|w·x|.
                const slices = (k + T.k_slice - 1) / T.k_slice;
                const roundings: f64 = if (use_simd) T.k_slice + slices + 1 else k + 1;
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
