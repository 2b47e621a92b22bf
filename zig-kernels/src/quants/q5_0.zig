//! Q5_0 (ggml type 6): 32 elements in 22 bytes — `d` fp16, `qh` (32 high bits, little-endian
//! u32; bit j belongs to element j), then Q4_0's 16 bytes of low nibbles (element j in the low
//! nibble of qs[j], element j+16 in the high nibble). x[j] = d·((lo_j | hi_j << 4) − 16).
//! Real Q4_K_M files of DeepSeek-V2-Lite store every `ffn_down_exps` (rows of 1408, not a
//! multiple of 256) as Q5_0: llama.cpp's fallback for Q4_K. The SIMD dot multiplies the raw
//! 5-bit values (unsigned) and applies −16 through the activation block sum s, as Q4_0 does.
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

pub const block_elements = 32;
pub const block_bytes = 22;
pub const unsigned_quants = true;
pub const offset: f32 = -16;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

/// 0x10 in byte j where bit j of the 32-bit `qh` is set, else 0: qh is broadcast so byte j holds
/// qh's byte j/8, then each byte tests its own bit j mod 8. (Q5_1 shares it.)
pub inline fn highBits(qh_bytes: *const [4]u8) simd.U8x32 {
    const qh: @Vector(4, u8) = qh_bytes.*;
    const spread = @shuffle(u8, qh, undefined, [32]i32{ 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 });
    const bit: simd.U8x32 = [8]u8{ 1, 2, 4, 8, 16, 32, 64, 128 } ** 4;
    const zero: simd.U8x32 = @splat(0);
    return @select(u8, (spread & bit) != zero, @as(simd.U8x32, @splat(0x10)), zero);
}

pub inline fn decodeSimd(w: [*]const u8) simd.U8x32 {
    return block32.unpackNibbles(w[6..22]) | highBits(w[2..6]);
}

pub inline fn decodeScalar(w: [*]const u8, values: *[32]i32) void {
    common.unpackCodes(w[6..22], std.mem.readInt(u32, w[2..6], .little), -16, values);
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const gemmDecoder = engine.gemmDecoder;
pub const dequantizeRow = engine.dequantizeRow;

/// Reference quantization (ggml quantize_row_q5_0_ref): the signed element of largest magnitude
/// maps to −16, d = max/−16, q = min(31, trunc(x/d + 16.5)).
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const out = dst + b * block_bytes;
        var codes: [32]u8 = undefined;
        const d = common.offsetCodes(32, x[b * 32 ..][0..32], &codes);
        std.mem.writeInt(u16, out[0..2], common.f16Bits(d), .little);
        std.mem.writeInt(u32, out[2..6], common.packNibbles(&codes, out[6..22]), .little);
    }
}

test "Q5_0 SIMD decode matches the scalar decode" {
    var prng = std.Random.DefaultPrng.init(9);
    const random = prng.random();
    for (0..100) |_| {
        var block: [22]u8 = undefined;
        random.bytes(&block);
        var values: [32]i32 = undefined;
        decodeScalar(&block, &values);
        const decoded: [32]u8 = decodeSimd(&block);
        for (values, decoded) |v, u| try std.testing.expectEqual(v, @as(i32, u) - 16);
    }
}
