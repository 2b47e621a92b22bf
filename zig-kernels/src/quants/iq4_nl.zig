//! IQ4_NL (ggml type 20): Q4_0's layout with a non-linear 16-entry codebook, x = d·K[nibble]
//! (MLA_SPEC §3.4). The SIMD decode is one vpshufb table lookup per 32 weights.
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

pub const block_elements = 32;
pub const block_bytes = 18;
pub const unsigned_quants = false;
pub const offset: f32 = 0;
/// The codebook + 127 lies in [0, 240]: the GEMM (gemm32.Shifted) and the r8 GEMV multiply those
/// unsigned bytes with vpmaddubsw, exact against Q8P activations (common.zig).
pub const unsigned_shift = 127;

/// The codebook (ggml kvalues_iq4nl).
pub const values = [16]i8{ -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };
const table: simd.I8x32 = values ++ values;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

pub inline fn decodeSimd(w: [*]const u8) simd.I8x32 {
    return simd.shuffleBytes(table, @bitCast(block32.unpackNibbles(w[2..18])));
}

pub inline fn decodeScalar(w: [*]const u8, out: *[32]i32) void {
    for (0..16) |j| {
        out[j] = values[w[2 + j] & 0x0F];
        out[j + 16] = values[w[2 + j] >> 4];
    }
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const dequantizeRow = engine.dequantizeRow;

fn nearestIndex(v: f32) u8 {
    var best: u8 = 0;
    var best_err = std.math.inf(f32);
    for (values, 0..) |k, i| {
        const err = @abs(v - @as(f32, @floatFromInt(k)));
        if (err < best_err) {
            best_err = err;
            best = @intCast(i);
        }
    }
    return best;
}

/// Reference-quality quantization: start from d = max/−127 (the signed extreme on the codebook's
/// −127 end), pick nearest codes, then refit d by least squares a few times, keeping the best.
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const src = x[b * 32 ..][0..32];
        const out = dst + b * block_bytes;
        const max = common.signedAbsMax(src);
        var codes: [32]u8 = @splat(8);
        var d: f32 = max / -127.0;
        var best_d: f32 = d;
        var best_codes = codes;
        var best_err = std.math.inf(f32);
        for (0..4) |_| {
            if (d == 0) break;
            var sum_xk: f32 = 0;
            var sum_kk: f32 = 0;
            var err: f32 = 0;
            for (src, &codes) |v, *c| {
                c.* = nearestIndex(v / d);
                const k: f32 = @floatFromInt(values[c.*]);
                sum_xk += v * k;
                sum_kk += k * k;
                err += (v - d * k) * (v - d * k);
            }
            if (err < best_err) {
                best_err = err;
                best_d = d;
                best_codes = codes;
            }
            d = sum_xk / sum_kk;
        }
        std.mem.writeInt(u16, out[0..2], common.f16Bits(best_d), .little);
        for (0..16) |j| out[2 + j] = best_codes[j] | (best_codes[j + 16] << 4);
    }
}
