//! Q4_K (ggml type 12): 256 elements in 144 bytes: d, dmin fp16, 12 bytes of packed 6-bit
//! scales/mins, 128 bytes of nibbles; x = d·sc·q − dmin·m per 32-element sub-block (MLA_SPEC §3.5).
//! The mins are applied through the Q8_K 16-element sums, so the SIMD loop multiplies raw nibbles.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const kblock = @import("kblock.zig");

pub const block_elements = 256;
pub const block_bytes = 144;

/// One decoded super-block: the nibbles of sub-block j in u[j], its scale and min.
pub const Decoded = struct {
    u: [8]simd.U8x32,
    /// Sub-block j's 6-bit scale in all 16 lanes: the vpmaddwd multiplier of its byte products.
    sc: [8]simd.I16x16,
    /// Each sub-block's min twice: pairs with the Q8_K 16-element sums in one vpmaddwd.
    mins: simd.I16x16,
    d: f32,
    dmin: f32,
};

/// Byte indices for vpshufb over the 16 bytes [sc0..sc7, m0..m7] (in both 128-bit lanes): word
/// lanes holding sc_j (j = 0..7), and the mins each twice (m0 m0 .. m3 m3 | m4 m4 .. m7 m7).
const zero_byte: i8 = -128; // top bit set: vpshufb writes 0
const scale_splat_index: [8]simd.I8x32 = blk: {
    var out: [8]simd.I8x32 = undefined;
    for (0..8) |j| {
        var idx: [32]i8 = undefined;
        for (0..16) |w| {
            idx[2 * w] = @intCast(j);
            idx[2 * w + 1] = zero_byte;
        }
        out[j] = idx;
    }
    break :blk out;
};
const mins_pair_index: simd.I8x32 = blk: {
    var idx: [32]i8 = undefined;
    for (0..2) |lane| {
        for (0..8) |w| {
            idx[16 * lane + 2 * w] = @intCast(8 + 4 * lane + w / 2);
            idx[16 * lane + 2 * w + 1] = zero_byte;
        }
    }
    break :blk idx;
};

/// The 8 scales and 8 mins of the packed 12 bytes (§3.5) as [sc0..sc7, m0..m7], unpacked with
/// 32-bit word operations on the integer side: for j < 4 the low 6 bits of bytes j and j+4;
/// for j ≥ 4 a nibble of byte j+4 plus the top 2 bits of byte j−4 (scale) or j (min).
pub inline fn scalesAndMins(scales: *const [12]u8) @Vector(16, u8) {
    const a0 = std.mem.readInt(u32, scales[0..4], .little);
    const a1 = std.mem.readInt(u32, scales[4..8], .little);
    const a2 = std.mem.readInt(u32, scales[8..12], .little);
    const low6: u32 = 0x3F3F3F3F;
    const low4: u32 = 0x0F0F0F0F;
    const low2: u32 = 0x03030303;
    const words: @Vector(4, u32) = .{
        a0 & low6,
        (a2 & low4) | (((a0 >> 6) & low2) << 4),
        a1 & low6,
        ((a2 >> 4) & low4) | (((a1 >> 6) & low2) << 4),
    };
    return @bitCast(words);
}

/// Fills `out.sc` and `out.mins` from the packed scales with one vpshufb each (Q4_K and Q5_K).
pub inline fn decodeScales(scales: *const [12]u8, out: *Decoded) void {
    const bytes = scalesAndMins(scales);
    const both: simd.I8x32 = @bitCast(@shuffle(u8, bytes, undefined, [32]i32{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }));
    inline for (0..8) |j| out.sc[j] = @bitCast(simd.shuffleBytes(both, scale_splat_index[j]));
    out.mins = @bitCast(simd.shuffleBytes(both, mins_pair_index));
}

pub inline fn decodeSimd(w: [*]const u8) Decoded {
    var out: Decoded = undefined;
    out.d = common.f16At(w);
    out.dmin = common.f16At(w + 2);
    decodeScales(w[4..16], &out);
    inline for (0..4) |c| {
        const bytes: simd.U8x32 = w[16 + 32 * c ..][0..32].*;
        out.u[2 * c] = bytes & @as(simd.U8x32, @splat(0x0F));
        out.u[2 * c + 1] = bytes >> @as(@Vector(32, u3), @splat(4));
    }
    return out;
}

pub inline fn dotDecoded(dw: *const Decoded, a: *align(1) const common.BlockQ8K) simd.F32x8 {
    var isum: simd.I32x8 = @splat(0);
    inline for (0..8) |j| {
        const qa: simd.I8x32 = a.q[32 * j ..][0..32].*;
        isum += simd.mulAddPairs(simd.mulAddBytes(dw.u[j], qa), dw.sc[j]);
    }
    const bsums: simd.I16x16 = a.bsums;
    const msum = simd.mulAddPairs(bsums, dw.mins);
    const scale: simd.F32x8 = @splat(dw.d * a.d);
    const min_scale: simd.F32x8 = @splat(dw.dmin * a.d);
    return @as(simd.F32x8, @floatFromInt(isum)) * scale - @as(simd.F32x8, @floatFromInt(msum)) * min_scale;
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
            const byte = w[16 + 32 * (j / 2) + l];
            const q: i32 = if (j % 2 == 0) byte & 0x0F else byte >> 4;
            qsum += q * a.q[32 * j + l];
            asum += a.q[32 * j + l];
        }
        isum += @as(i32, sm.sc) * qsum;
        msum += @as(i32, sm.m) * asum;
    }
    return a.d * (common.f16At(w) * @as(f32, @floatFromInt(isum)) - common.f16At(w + 2) * @as(f32, @floatFromInt(msum)));
}

pub const dots = kblock.Engine(@This()).dots;
pub const gemmTile = kblock.Gemm(@This()).tile;

/// The 4-bit code of element l of sub-block j (scalar paths).
pub fn code(w: [*]const u8, j: usize, l: usize) u8 {
    const byte = w[16 + 32 * (j / 2) + l];
    return if (j % 2 == 0) byte & 0x0F else byte >> 4;
}

pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
    std.debug.assert(dst.len % 256 == 0);
    const use_simd = cpu_path.simd();
    for (0..dst.len / 256) |b| {
        const w = src + b * block_bytes;
        if (use_simd) {
            writeDecoded(decodeSimd(w), dst[b * 256 ..][0..256]);
            continue;
        }
        const d = common.f16At(w);
        const dmin = common.f16At(w + 2);
        for (0..8) |j| {
            const sm = kblock.scaleMin(w[4..16], j);
            const scale = d * @as(f32, @floatFromInt(sm.sc));
            const min = dmin * @as(f32, @floatFromInt(sm.m));
            for (0..32) |l| {
                const byte = w[16 + 32 * (j / 2) + l];
                const q: u8 = if (j % 2 == 0) byte & 0x0F else byte >> 4;
                dst[b * 256 + 32 * j + l] = scale * @as(f32, @floatFromInt(q)) - min;
            }
        }
    }
}

/// x = d·sc·u − dmin·m for one decoded 256-block (8 sub-blocks of 32 unsigned quants): the SIMD
/// dequantization Q4_K and Q5_K share once their quants are unpacked by `decodeSimd`.
pub fn writeDecoded(dec: anytype, out: *[256]f32) void {
    inline for (0..8) |j| {
        const scale: simd.F32x8 = @splat(dec.d * @as(f32, @floatFromInt(dec.sc[j][0])));
        const min: simd.F32x8 = @splat(dec.dmin * @as(f32, @floatFromInt(dec.mins[2 * j])));
        const wide: [32]i32 = @as(@Vector(32, i32), dec.u[j]);
        inline for (0..4) |i| {
            const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
            out[32 * j + 8 * i ..][0..8].* = @as(simd.F32x8, @floatFromInt(part)) * scale - min;
        }
    }
}

/// Fits x ≈ scale·q − min with q in [0, levels−1] for one sub-block (min ≥ 0: the offset only
/// shifts down, as in the format). Returns the scale and min; the caller quantizes with them.
pub fn fitScaleMin(x: []const f32, levels: f32) struct { scale: f32, min: f32 } {
    var lo: f32 = 0;
    var hi: f32 = -std.math.inf(f32);
    for (x) |v| {
        lo = @min(lo, v);
        hi = @max(hi, v);
    }
    const range = hi - lo;
    return .{ .scale = if (range > 0) range / (levels - 1) else 0, .min = -lo };
}

/// Reference-quality quantization: per sub-block min/max fit, 6-bit scales and mins under fp16
/// super-scales, then quants recomputed against the stored (rounded) scales.
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    quantizeRowLevels(x, dst, 16, block_bytes, 16);
}

/// Shared with Q5_K: `levels` quant levels, quants written by `store(w, j, l, q)`.
pub fn quantizeRowLevels(x: []const f32, dst: [*]u8, comptime levels: u8, comptime bytes: usize, comptime qs_offset: usize) void {
    std.debug.assert(x.len % 256 == 0);
    for (0..x.len / 256) |b| {
        const src = x[b * 256 ..][0..256];
        const w = dst + b * bytes;
        @memset(w[0..bytes], 0);
        var scale: [8]f32 = undefined;
        var min: [8]f32 = undefined;
        var scale_max: f32 = 0;
        var min_max: f32 = 0;
        for (0..8) |j| {
            const fit = fitScaleMin(src[32 * j ..][0..32], levels);
            scale[j] = fit.scale;
            min[j] = fit.min;
            scale_max = @max(scale_max, fit.scale);
            min_max = @max(min_max, fit.min);
        }
        const d = common.f16At(&std.mem.toBytes(common.f16Bits(scale_max / 63.0)));
        const dmin = common.f16At(&std.mem.toBytes(common.f16Bits(min_max / 63.0)));
        var sc: [8]u8 = undefined;
        var m: [8]u8 = undefined;
        for (0..8) |j| {
            // Round the scale up so the largest quant still fits; the min to nearest.
            sc[j] = if (d > 0) @intFromFloat(@min(63.0, @ceil(scale[j] / d))) else 0;
            m[j] = if (dmin > 0) @intFromFloat(@min(63.0, @round(min[j] / dmin))) else 0;
        }
        std.mem.writeInt(u16, w[0..2], common.f16Bits(d), .little);
        std.mem.writeInt(u16, w[2..4], common.f16Bits(dmin), .little);
        kblock.packScaleMin(sc, m, w[4..16]);
        for (0..8) |j| {
            const s = d * @as(f32, @floatFromInt(sc[j]));
            const mn = dmin * @as(f32, @floatFromInt(m[j]));
            for (0..32) |l| {
                const qf = if (s > 0) @round((src[32 * j + l] + mn) / s) else 0;
                const q: u8 = @intFromFloat(@min(@as(f32, levels - 1), @max(0.0, qf)));
                const byte = &w[qs_offset + 32 * (j / 2) + l];
                byte.* |= if (j % 2 == 0) (q & 0x0F) else ((q & 0x0F) << 4);
                if (levels > 16) w[16 + l] |= @as(u8, q >> 4) << @intCast(j);
            }
        }
    }
}

test "scalesAndMins and decodeScales agree with scaleMin for every packed pattern" {
    var prng = std.Random.DefaultPrng.init(3);
    const random = prng.random();
    for (0..500) |_| {
        var scales: [12]u8 = undefined;
        random.bytes(&scales);
        const bytes = scalesAndMins(&scales);
        var dec: Decoded = undefined;
        decodeScales(&scales, &dec);
        for (0..8) |j| {
            const sm = kblock.scaleMin(&scales, j);
            try std.testing.expectEqual(sm.sc, bytes[j]);
            try std.testing.expectEqual(sm.m, bytes[8 + j]);
            for (0..16) |lane| try std.testing.expectEqual(@as(i16, sm.sc), dec.sc[j][lane]);
            try std.testing.expectEqual(@as(i16, sm.m), dec.mins[2 * j]);
            try std.testing.expectEqual(@as(i16, sm.m), dec.mins[2 * j + 1]);
        }
    }
}
