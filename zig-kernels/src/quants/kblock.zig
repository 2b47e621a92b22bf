//! The dot-product engine of the 256-element K-quant types (Q4_K, Q5_K, Q6_K) against BlockQ8K
//! activations. A type supplies `block_bytes`, a SIMD decode of one super-block into a `Decoded`
//! value, `dotDecoded(decoded, activation_block) F32x8` (8 partial sums) and a scalar twin `dotScalar(w, a) f32`;
//! each super-block is decoded once per tile of `ncols` activation rows.
const std = @import("std");
const cpu_path = @import("../cpu_path.zig");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const gemm_k = @import("gemm_k.zig");

const DotFn = block32.DotFn;

pub fn Engine(comptime T: type) type {
    return struct {
        /// Dot products for 1..4 activation rows, indexed by ncols − 1.
        pub const dots: [block32.ncols_max]DotFn = .{ dot(1), dot(2), dot(3), dot(4) };

        fn dot(comptime ncols: usize) DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    std.debug.assert(k % 256 == 0);
                    if (cpu_path.simd()) {
                        // Partial sums stay in 8 lanes until the end: one reduction per row.
                        var acc: [ncols]simd.F32x8 = @splat(@splat(0));
                        for (0..k / 256) |b| {
                            const decoded = T.decodeSimd(w + b * T.block_bytes);
                            inline for (0..ncols) |c| {
                                acc[c] += T.dotDecoded(&decoded, common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K)));
                            }
                        }
                        inline for (0..ncols) |c| out[c] = @reduce(.Add, acc[c]);
                    } else {
                        var sum: [ncols]f32 = @splat(0);
                        for (0..k / 256) |b| {
                            inline for (0..ncols) |c| {
                                sum[c] += T.dotScalar(w + b * T.block_bytes, common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K)));
                            }
                        }
                        inline for (0..ncols) |c| out[c] = sum[c];
                    }
                }
            }.call;
        }
    };
}

/// The GEMM tile kernel (gemm_k.zig) of a type with unsigned codes and a 6-bit scale and min
/// per 32-element sub-block (Q4_K, Q5_K): `T.decodeSimd` as for the dots, `T.code(w, j, l)`
/// the scalar code of element l of sub-block j.
pub fn Gemm(comptime T: type) type {
    return gemm_k.GemmK(SuperDecoder(T));
}

/// The gemm_k decoder of one file-layout super-block of T (Q4_K, Q5_K).
pub fn SuperDecoder(comptime T: type) type {
    return struct {
        pub const block_bytes = T.block_bytes;
        pub const group_scales = false;

        pub fn decodeSuper(w: [*]const u8, out: *gemm_k.Super) void {
            if (cpu_path.simd()) {
                const dec = T.decodeSimd(w);
                inline for (0..8) |j| {
                    out.u[j] = dec.u[j];
                    out.sc[2 * j] = dec.sc[j][0];
                    out.sc[2 * j + 1] = dec.sc[j][0];
                }
                out.m = dec.mins;
                out.d = dec.d;
                out.dmin = dec.dmin;
            } else {
                for (0..8) |j| {
                    const sm = scaleMin(w[4..16], j);
                    for (&out.u[j], 0..) |*code, l| code.* = T.code(w, j, l);
                    out.sc[2 * j] = sm.sc;
                    out.sc[2 * j + 1] = sm.sc;
                    out.m[2 * j] = sm.m;
                    out.m[2 * j + 1] = sm.m;
                }
                out.d = common.f16At(w);
                out.dmin = common.f16At(w + 2);
            }
        }
    };
}

/// Q4_K / Q5_K 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes (§3.5).
pub inline fn scaleMin(scales: *const [12]u8, j: usize) struct { sc: u8, m: u8 } {
    if (j < 4) return .{ .sc = scales[j] & 63, .m = scales[j + 4] & 63 };
    return .{
        .sc = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
        .m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
    };
}

/// Packs 8 six-bit scales and mins into 12 bytes, the inverse of scaleMin.
pub fn packScaleMin(sc: [8]u8, m: [8]u8, scales: *[12]u8) void {
    for (0..4) |j| {
        scales[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
        scales[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
        scales[j + 8] = (sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4);
    }
}

test "packScaleMin inverts scaleMin" {
    var sc: [8]u8 = undefined;
    var m: [8]u8 = undefined;
    for (0..8) |j| {
        sc[j] = @intCast((j * 13 + 5) % 64);
        m[j] = @intCast((j * 29 + 61) % 64);
    }
    var packed_bytes: [12]u8 = undefined;
    packScaleMin(sc, m, &packed_bytes);
    for (0..8) |j| {
        const got = scaleMin(&packed_bytes, j);
        try std.testing.expectEqual(sc[j], got.sc);
        try std.testing.expectEqual(m[j], got.m);
    }
}
