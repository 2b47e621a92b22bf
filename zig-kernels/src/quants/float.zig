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
