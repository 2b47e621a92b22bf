//! Q6_K (ggml type 14): 256 elements in 210 bytes: ql[128] low nibbles, qh[64] high 2-bit pairs,
//! scales[16] i8, d fp16; x = d·scale·(q − 32), one scale per 16 elements (MLA_SPEC §3.7).
//! Sub-block j (elements 32j..32j+31) is half n = j/4, part i = j%4 of the spec's q1..q4.
//! The SIMD loop multiplies the unsigned 6-bit q and applies −32 through the Q8_K bsums.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const kblock = @import("kblock.zig");
const gemm_k = @import("gemm_k.zig");

pub const block_elements = 256;
pub const block_bytes = 210;

pub const Decoded = struct {
    u: [8]simd.U8x32,
    scales: [16]i8,
    d: f32,
};

pub inline fn decodeSimd(w: [*]const u8) Decoded {
    var out: Decoded = undefined;
    out.d = common.f16At(w + 208);
    out.scales = @bitCast(w[192..208].*);
    const low4: simd.U8x32 = @splat(0x0F);
    const three: simd.U8x32 = @splat(3);
    inline for (0..2) |n| {
        const ql0: simd.U8x32 = w[64 * n ..][0..32].*;
        const ql1: simd.U8x32 = w[64 * n + 32 ..][0..32].*;
        const qh: simd.U8x32 = w[128 + 32 * n ..][0..32].*;
        const s4: @Vector(32, u3) = @splat(4);
        out.u[4 * n + 0] = (ql0 & low4) | ((qh & three) << s4);
        out.u[4 * n + 1] = (ql1 & low4) | (((qh >> @splat(2)) & three) << s4);
        out.u[4 * n + 2] = (ql0 >> s4) | (((qh >> @splat(4)) & three) << s4);
        out.u[4 * n + 3] = (ql1 >> s4) | (((qh >> @splat(6)) & three) << s4);
    }
    return out;
}

pub inline fn dotDecoded(dw: *const Decoded, a: *align(1) const common.BlockQ8K) simd.F32x8 {
    var isum: simd.I32x8 = @splat(0);
    inline for (0..8) |j| {
        const qa: simd.I8x32 = a.q[32 * j ..][0..32].*;
        // Lanes 0..7 of the pair sums cover elements 0..15 (scale 2j), lanes 8..15 the rest.
        const lo: simd.I16x16 = @splat(dw.scales[2 * j]);
        const hi: simd.I16x16 = @splat(dw.scales[2 * j + 1]);
        const sc = @shuffle(i16, lo, hi, [16]i32{ 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1 });
        isum += simd.mulAddPairs(simd.mulAddBytes(dw.u[j], qa), sc);
    }
    // The −32 offset: Σ_g scale_g·bsum_g, 16 groups in one vpmaddwd.
    const scales16: simd.I16x16 = dw.scales;
    const bsums: simd.I16x16 = a.bsums;
    const offset = simd.mulAddPairs(scales16, bsums);
    const total = isum - offset * @as(simd.I32x8, @splat(32));
    return @as(simd.F32x8, @floatFromInt(total)) * @as(simd.F32x8, @splat(a.d * dw.d));
}

/// Element e's value q − 32 (in [−32, 31]) of the block at w.
pub inline fn quant(w: [*]const u8, e: usize) i32 {
    const n = e / 128;
    const i = (e % 128) / 32;
    const l = e % 32;
    const ql = w[64 * n + 32 * (i % 2) + l];
    const low: i32 = if (i < 2) ql & 0x0F else ql >> 4;
    const high: i32 = (w[128 + 32 * n + l] >> @intCast(2 * i)) & 3;
    return (low | (high << 4)) - 32;
}

/// Writes element e's 6-bit code q (value q − 32) into a block whose ql and qh bytes start at 0.
pub inline fn orCode(w: [*]u8, e: usize, q: u8) void {
    const n = e / 128;
    const i = (e % 128) / 32;
    const l = e % 32;
    w[64 * n + 32 * (i % 2) + l] |= if (i < 2) (q & 0x0F) else ((q & 0x0F) << 4);
    w[128 + 32 * n + l] |= @as(u8, q >> 4) << @intCast(2 * i);
}

/// Scalar twin: integer dot per 16-element group, recomputing no sums from bsums.
pub fn dotScalar(w: [*]const u8, a: *align(1) const common.BlockQ8K) f32 {
    var isum: i32 = 0;
    for (0..16) |g| {
        var gsum: i32 = 0;
        for (0..16) |l| gsum += quant(w, 16 * g + l) * a.q[16 * g + l];
        isum += @as(i32, @as(i8, @bitCast(w[192 + g]))) * gsum;
    }
    return a.d * common.f16At(w + 208) * @as(f32, @floatFromInt(isum));
}

pub const dots = kblock.Engine(@This()).dots;

/// The GEMM tile kernel (gemm_k.zig): unsigned 6-bit codes, a scale per 16-element group, and
/// the −32 offset as the subtracted term with multiplier 32·scale and dmin = d.
pub const gemmTile = gemm_k.GemmK(GemmDecoder).tile;

/// One super-block → gemm_k.Super (q6_k_r8.zig's tile decodes its trailing file rows with it).
pub const GemmDecoder = struct {
    pub const block_bytes = 210;
    pub const group_scales = true;

    pub fn decodeSuper(w: [*]const u8, out: *gemm_k.Super) void {
        const scales: [16]i8 = @bitCast(w[192..208].*);
        for (0..16) |g| {
            out.sc[g] = scales[g];
            out.m[g] = 32 * @as(i16, scales[g]);
        }
        out.d = common.f16At(w + 208);
        out.dmin = out.d;
        if (cpu_path.simd()) {
            const dec = decodeSimd(w);
            inline for (0..8) |j| out.u[j] = dec.u[j];
        } else {
            for (0..8) |j| {
                for (&out.u[j], 0..) |*code, l| code.* = @intCast(quant(w, 32 * j + l) + 32);
            }
        }
    }
};

pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
    std.debug.assert(dst.len % 256 == 0);
    const use_simd = cpu_path.simd();
    for (0..dst.len / 256) |b| {
        const w = src + b * block_bytes;
        if (use_simd) {
            const dec = decodeSimd(w);
            inline for (0..8) |j| {
                const wide: [32]i32 = @as(@Vector(32, i32), dec.u[j]) - @as(@Vector(32, i32), @splat(32));
                inline for (0..4) |i| {
                    const scale: simd.F32x8 = @splat(dec.d * @as(f32, @floatFromInt(dec.scales[2 * j + i / 2])));
                    const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
                    dst[b * 256 + 32 * j + 8 * i ..][0..8].* = @as(simd.F32x8, @floatFromInt(part)) * scale;
                }
            }
            continue;
        }
        const d = common.f16At(w + 208);
        for (0..256) |e| {
            const scale: f32 = @floatFromInt(@as(i8, @bitCast(w[192 + e / 16])));
            dst[b * 256 + e] = d * scale * @as(f32, @floatFromInt(quant(w, e)));
        }
    }
}

/// Reference-quality quantization: per 16 elements scale = max/−32 (signed extreme), scales to
/// int8 under d = scale_max/−128 style super-scale, quants recomputed with the stored scales.
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 256 == 0);
    for (0..x.len / 256) |b| {
        const src = x[b * 256 ..][0..256];
        const w = dst + b * block_bytes;
        @memset(w[0..block_bytes], 0);
        var scale: [16]f32 = undefined;
        for (0..16) |g| scale[g] = common.signedAbsMax(src[16 * g ..][0..16]) / -32.0;
        const scale_max = common.signedAbsMax(&scale);
        const d = common.f16At(&std.mem.toBytes(common.f16Bits(scale_max / -128.0)));
        std.mem.writeInt(u16, w[208..210], common.f16Bits(d), .little);
        for (0..16) |g| {
            const s: i8 = if (d != 0) @intFromFloat(@min(127.0, @max(-128.0, @round(scale[g] / d)))) else 0;
            w[192 + g] = @bitCast(s);
            const ds = d * @as(f32, @floatFromInt(s));
            for (0..16) |l| {
                const e = 16 * g + l;
                const qf = if (ds != 0) @round(src[e] / ds) else 0;
                orCode(w, e, @intFromFloat(@min(31.0, @max(-32.0, qf)) + 32.0));
            }
        }
    }
}
