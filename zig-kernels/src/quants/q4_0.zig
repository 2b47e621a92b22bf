//! Q4_0 (ggml type 2): 32 elements in 18 bytes, `d` fp16 then 16 bytes of nibbles;
//! x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8) (MLA_SPEC §3.3). The SIMD dot multiplies
//! the raw nibbles and applies −8 through the activation block sum s.
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

pub const block_elements = 32;
pub const block_bytes = 18;
pub const unsigned_quants = true;
pub const offset: f32 = -8;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

pub inline fn decodeSimd(w: [*]const u8) simd.U8x32 {
    return block32.unpackNibbles(w[2..18]);
}

pub inline fn decodeScalar(w: [*]const u8, values: *[32]i32) void {
    common.unpackCodes(w[2..18], 0, -8, values);
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const dequantizeRow = engine.dequantizeRow;

/// Reference quantization (ggml quantize_row_q4_0_ref): the signed element of largest magnitude
/// maps to −8, d = max/−8, q = min(15, trunc(x/d + 8.5)).
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const out = dst + b * block_bytes;
        var codes: [32]u8 = undefined;
        const d = common.offsetCodes(16, x[b * 32 ..][0..32], &codes);
        std.mem.writeInt(u16, out[0..2], common.f16Bits(d), .little);
        _ = common.packNibbles(&codes, out[2..18]);
    }
}
