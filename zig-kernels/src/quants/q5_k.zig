//! Q5_K (ggml type 13): 256 elements in 176 bytes: d, dmin fp16, 12 bytes of packed scales/mins
//! (as Q4_K), qh[32] fifth bits, qs[128] nibbles; x = d·sc·q − dmin·m (MLA_SPEC §3.6).
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const kblock = @import("kblock.zig");
const q4_k = @import("q4_k.zig");

pub const block_elements = 256;
pub const block_bytes = 176;

pub const Decoded = q4_k.Decoded;

pub inline fn decodeSimd(w: [*]const u8) Decoded {
    var out: Decoded = undefined;
    out.d = common.f16At(w);
    out.dmin = common.f16At(w + 2);
    q4_k.decodeScales(w[4..16], &out);
    const qh: simd.U8x32 = w[16..48].*;
    const one: simd.U8x32 = @splat(1);
    inline for (0..4) |c| {
        const bytes: simd.U8x32 = w[48 + 32 * c ..][0..32].*;
        const bit_lo = (qh >> @as(@Vector(32, u3), @splat(2 * c))) & one;
        const bit_hi = (qh >> @as(@Vector(32, u3), @splat(2 * c + 1))) & one;
        out.u[2 * c] = (bytes & @as(simd.U8x32, @splat(0x0F))) | (bit_lo << @as(@Vector(32, u3), @splat(4)));
        out.u[2 * c + 1] = (bytes >> @as(@Vector(32, u3), @splat(4))) | (bit_hi << @as(@Vector(32, u3), @splat(4)));
    }
    return out;
}

pub const dotDecoded = q4_k.dotDecoded;

inline fn quant(w: [*]const u8, j: usize, l: usize) i32 {
    const byte = w[48 + 32 * (j / 2) + l];
    const low: i32 = if (j % 2 == 0) byte & 0x0F else byte >> 4;
    return low + 16 * @as(i32, (w[16 + l] >> @intCast(j)) & 1);
}

/// Scalar twin: recomputes the activation sums from the quants instead of trusting bsums.
pub fn dotScalar(w: [*]const u8, a: *align(1) const common.BlockQ8K) f32 {
    var isum: i32 = 0;
    var msum: i32 = 0;
    for (0..8) |j| {
        const sm = kblock.scaleMin(w[4..16], j);
        var qsum: i32 = 0;
        var asum: i32 = 0;
        for (0..32) |l| {
            qsum += quant(w, j, l) * a.q[32 * j + l];
            asum += a.q[32 * j + l];
        }
        isum += @as(i32, sm.sc) * qsum;
        msum += @as(i32, sm.m) * asum;
    }
    return a.d * (common.f16At(w) * @as(f32, @floatFromInt(isum)) - common.f16At(w + 2) * @as(f32, @floatFromInt(msum)));
}

pub const dots = kblock.Engine(@This()).dots;
pub const gemmTile = kblock.Gemm(@This()).tile;

/// The 5-bit code of element l of sub-block j (scalar paths).
pub fn code(w: [*]const u8, j: usize, l: usize) u8 {
    return @intCast(quant(w, j, l));
}

pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
    std.debug.assert(dst.len % 256 == 0);
    const use_simd = cpu_path.simd();
    for (0..dst.len / 256) |b| {
        const w = src + b * block_bytes;
        if (use_simd) {
            q4_k.writeDecoded(decodeSimd(w), dst[b * 256 ..][0..256]);
            continue;
        }
        for (0..8) |j| {
            const sm = kblock.scaleMin(w[4..16], j);
            const scale = common.f16At(w) * @as(f32, @floatFromInt(sm.sc));
            const min = common.f16At(w + 2) * @as(f32, @floatFromInt(sm.m));
            for (0..32) |l| dst[b * 256 + 32 * j + l] = scale * @as(f32, @floatFromInt(quant(w, j, l))) - min;
        }
    }
}

/// Reference-quality quantization (min/max fit per sub-block, see q4_k.quantizeRowLevels).
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    q4_k.quantizeRowLevels(x, dst, 32, block_bytes, 48);
}
