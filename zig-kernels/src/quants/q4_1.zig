//! Q4_1 (ggml type 3): 32 elements in 20 bytes — `d` and `m` fp16, then Q4_0's 16 bytes of
//! nibbles; x[j] = d·q_j + m. Some llama.cpp mixes and older files use it. The SIMD dot
//! multiplies the raw codes; m comes in through the activation block sum s (block32 `has_min`).
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

pub const block_elements = 32;
pub const block_bytes = 20;
pub const unsigned_quants = true;
pub const offset: f32 = 0;
pub const has_min = true;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

pub inline fn decodeSimd(w: [*]const u8) simd.U8x32 {
    return block32.unpackNibbles(w[4..20]);
}

/// Raw codes (m is added by the engine).
pub inline fn decodeScalar(w: [*]const u8, values: *[32]i32) void {
    common.unpackCodes(w[4..20], 0, 0, values);
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const dequantizeRow = engine.dequantizeRow;

/// Reference quantization (ggml quantize_row_q4_1_ref): d = (max − min)/15, m = min,
/// q = min(15, trunc((x − min)/d + 0.5)).
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const out = dst + b * block_bytes;
        var codes: [32]u8 = undefined;
        const dm = common.minCodes(16, x[b * 32 ..][0..32], &codes);
        std.mem.writeInt(u16, out[0..2], common.f16Bits(dm.d), .little);
        std.mem.writeInt(u16, out[2..4], common.f16Bits(dm.m), .little);
        _ = common.packNibbles(&codes, out[4..20]);
    }
}
