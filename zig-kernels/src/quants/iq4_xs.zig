//! IQ4_XS (ggml type 23): 256 elements in 136 bytes — `d` fp16, `scales_h` (u16: 2 high bits of
//! each of 8 sub-block scales), `scales_l[4]` (4 low bits each), then 8 × 16 bytes of IQ4_NL
//! codes (sub-block j: element i < 16 in the low nibble of qs[16j + i], i ≥ 16 in the high
//! nibble of qs[16j + i − 16]). x = d·(ls_j − 32)·K[code], ls_j the 6-bit scale, K the IQ4_NL
//! codebook. The type of the IQ4_XS files people download; their rows that are not whole
//! 256-blocks (V2-Lite's ffn_down_exps, attn_k_b) are IQ4_NL. Dots run against Q8_K blocks: per
//! sub-block the sign trick (|K| × sign-carrying activations) gives i16 pair sums, and vpmaddwd
//! with the sub-block's integer scale instead of ones folds the scale in before one conversion.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const kblock = @import("kblock.zig");
const block32 = @import("block32.zig");
const iq4_nl = @import("iq4_nl.zig");
const r8 = @import("r8.zig");
const sign_xor_tile = @import("sign_xor_tile.zig");

pub const block_elements = 256;
pub const block_bytes = 136;

const table: simd.I8x32 = iq4_nl.values ++ iq4_nl.values;

/// Sub-block j's scale ls_j − 32, in [−32, 31].
pub inline fn subScale(w: [*]const u8, j: usize) i32 {
    const scales_h = std.mem.readInt(u16, w[2..4], .little);
    const low = (w[4 + j / 2] >> @intCast(4 * (j % 2))) & 0x0F;
    const high: u8 = @intCast((scales_h >> @intCast(2 * j)) & 3);
    return @as(i32, low | (high << 4)) - 32;
}

pub const Decoded = struct {
    /// Codebook values of sub-block j in element order.
    v: [8]simd.I8x32,
    scales: [8]i16,
    d: f32,
};

/// Sub-block j's 32 codebook values in element order (SIMD).
inline fn subBlockValues(w: [*]const u8, j: usize) simd.I8x32 {
    return simd.shuffleBytes(table, @bitCast(block32.unpackNibbles(w[8 + 16 * j ..][0..16])));
}

pub inline fn decodeSimd(w: [*]const u8) Decoded {
    var out: Decoded = undefined;
    out.d = common.f16At(w);
    inline for (0..8) |j| {
        out.v[j] = subBlockValues(w, j);
        out.scales[j] = @intCast(subScale(w, j));
    }
    return out;
}

pub inline fn dotDecoded(dw: *const Decoded, a: *align(1) const common.BlockQ8K) simd.F32x8 {
    var isum: simd.I32x8 = @splat(0);
    inline for (0..8) |j| {
        const qa: simd.I8x32 = a.q[32 * j ..][0..32].*;
        const pairs = simd.mulAddBytes(@abs(dw.v[j]), block32.signBytes(qa, dw.v[j]));
        isum += simd.mulAddPairs(pairs, @splat(dw.scales[j]));
    }
    return @as(simd.F32x8, @floatFromInt(isum)) * @as(simd.F32x8, @splat(a.d * dw.d));
}

inline fn value(w: [*]const u8, e: usize) i32 {
    const j = e / 32;
    const i = e % 32;
    const byte = w[8 + 16 * j + i % 16];
    return iq4_nl.values[if (i < 16) byte & 0x0F else byte >> 4];
}

/// Scalar twin.
pub fn dotScalar(w: [*]const u8, a: *align(1) const common.BlockQ8K) f32 {
    var isum: i32 = 0;
    for (0..8) |j| {
        var jsum: i32 = 0;
        for (0..32) |i| jsum += value(w, 32 * j + i) * a.q[32 * j + i];
        isum += subScale(w, j) * jsum;
    }
    return a.d * common.f16At(w) * @as(f32, @floatFromInt(isum));
}

pub const dots = kblock.Engine(@This()).dots;

/// Prefill: Q8_0's sign-xor tile (quants/sign_xor_tile.zig) over 8 rows at a time, each
/// 32-element sub-block's codebook values gathered by one 8 × 8 transpose of 32-bit words and
/// scaled by d·(ls − 32). Per core on 2048×1408, GOP/s, against gemm32.zig's int16 tile it
/// replaces: 75 against 51–58 at t=8, 93 against 76 at 16, 111 against 96 at 64, 107 against
/// 97–100 at 512.
pub const gemmTile = sign_xor_tile.Tile(Rows).gemmTile;
/// From 8 tokens the tile beats the dots (quants.Traits.gemm_tokens_min).
pub const gemm_tokens_min = 8;

/// Eight consecutive rows as one group of sign_xor_tile, sub-block by sub-block.
const Rows = struct {
    pub const Activations = sign_xor_tile.Q8kActivations;

    pub fn decodeBlock(group: [*]const u8, row_bytes: usize, b: usize, w: *[8]simd.I8x32) simd.F32x8 {
        return sign_xor_tile.gatherRows(rowBlock, group, row_bytes, b, w);
    }
    /// Sub-block b of a row: its codebook values and the scale d·(ls − 32).
    inline fn rowBlock(row: [*]const u8, b: usize) sign_xor_tile.RowBlock {
        const block = row + b / 8 * block_bytes;
        return .{
            .words = @bitCast(subBlockValues(block, b % 8)),
            .d = common.f16At(block) * @as(f32, @floatFromInt(subScale(block, b % 8))),
        };
    }
    pub const rows_dots = r8.perRowDots(dots);
};

pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
    std.debug.assert(dst.len % 256 == 0);
    const use_simd = cpu_path.simd();
    for (0..dst.len / 256) |b| {
        const w = src + b * block_bytes;
        const d = common.f16At(w);
        if (use_simd) {
            const dec = decodeSimd(w);
            inline for (0..8) |j| {
                const scale: simd.F32x8 = @splat(d * @as(f32, @floatFromInt(dec.scales[j])));
                const wide: [32]i32 = @as(@Vector(32, i32), dec.v[j]);
                inline for (0..4) |i| {
                    const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
                    dst[b * 256 + 32 * j + 8 * i ..][0..8].* = @as(simd.F32x8, @floatFromInt(part)) * scale;
                }
            }
            continue;
        }
        for (0..256) |e| {
            const scale: f32 = @floatFromInt(subScale(w, e / 32));
            dst[b * 256 + e] = d * scale * @as(f32, @floatFromInt(value(w, e)));
        }
    }
}

fn nearestCode(v: f32) u8 {
    var best: u8 = 0;
    for (iq4_nl.values, 0..) |k, c| {
        if (@abs(v - @as(f32, @floatFromInt(k))) < @abs(v - @as(f32, @floatFromInt(iq4_nl.values[best])))) best = @intCast(c);
    }
    return best;
}

/// Reference-quality quantization (simpler than ggml's search, for tests): each sub-block's
/// ideal scale maps its signed extreme to the codebook's −127 end; the super-scale d makes the
/// largest of them ±32 (the 6-bit range is −32..31), sub-scales round to that grid, and codes
/// are the nearest codebook values under the stored scales.
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 256 == 0);
    for (0..x.len / 256) |b| {
        const src = x[b * 256 ..][0..256];
        const w = dst + b * block_bytes;
        @memset(w[0..block_bytes], 0);
        var ideal: [8]f32 = undefined;
        for (0..8) |j| ideal[j] = common.signedAbsMax(src[32 * j ..][0..32]) / -127.0;
        const extreme = common.signedAbsMax(&ideal);
        const d = common.f16At(&std.mem.toBytes(common.f16Bits(extreme / -32.0)));
        std.mem.writeInt(u16, w[0..2], common.f16Bits(d), .little);
        var scales_h: u16 = 0;
        for (0..8) |j| {
            const s: i32 = if (d != 0) @intFromFloat(@min(31.0, @max(-32.0, @round(ideal[j] / d)))) else 0;
            const ls: u8 = @intCast(s + 32);
            w[4 + j / 2] |= (ls & 0x0F) << @intCast(4 * (j % 2));
            scales_h |= @as(u16, ls >> 4) << @intCast(2 * j);
            const ds = d * @as(f32, @floatFromInt(s));
            for (0..32) |i| {
                const code = if (ds != 0) nearestCode(src[32 * j + i] / ds) else 8;
                const at = 8 + 16 * j + i % 16;
                w[at] |= if (i < 16) code else code << 4;
            }
        }
        std.mem.writeInt(u16, w[2..4], scales_h, .little);
    }
}

test "IQ4_XS SIMD and scalar dots and dequantization agree" {
    var prng = std.Random.DefaultPrng.init(23);
    const random = prng.random();
    var block: [2 * block_bytes]u8 = undefined;
    random.bytes(&block);
    std.mem.writeInt(u16, block[0..2], common.f16Bits(0.01), .little);
    std.mem.writeInt(u16, block[block_bytes..][0..2], common.f16Bits(-0.02), .little);
    var x: [512]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32);
    var act: [2 * @sizeOf(common.BlockQ8K)]u8 = undefined;
    common.quantizeRowQ8K(&x, &act);
    var simd_deq: [512]f32 = undefined;
    var scalar_deq: [512]f32 = undefined;
    var out_simd: [4]f32 = undefined;
    var out_scalar: [4]f32 = undefined;
    dots[0](&block, &act, act.len, 512, &out_simd);
    dequantizeRow(&block, &simd_deq);
    cpu_path.use_simd.store(false, .monotonic);
    defer cpu_path.use_simd.store(true, .monotonic);
    dots[0](&block, &act, act.len, 512, &out_scalar);
    dequantizeRow(&block, &scalar_deq);
    try std.testing.expectApproxEqRel(out_scalar[0], out_simd[0], 1e-5);
    try std.testing.expectEqualSlices(f32, &scalar_deq, &simd_deq);
}
