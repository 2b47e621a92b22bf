//! Q8_0 (ggml type 8): 32 elements in 34 bytes, `d` fp16 then `q[32]` i8; x = d·q (MLA_SPEC §3.1).
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");

pub const block_elements = 32;
pub const block_bytes = 34;
pub const unsigned_quants = false;
pub const offset: f32 = 0;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

pub inline fn decodeSimd(w: [*]const u8) simd.I8x32 {
    return @bitCast(w[2..34].*);
}

pub inline fn decodeScalar(w: [*]const u8, values: *[32]i32) void {
    for (values, w[2..34]) |*v, q| v.* = @as(i8, @bitCast(q));
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const dequantizeRow = engine.dequantizeRow;

/// Reference quantization (ggml quantize_row_q8_0_ref): d = amax/127, q = round(x/d), d as fp16.
/// Rounds half away from zero like the reference, unlike the activation quantizer.
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const src = x[b * 32 ..][0..32];
        const out = dst + b * block_bytes;
        var amax: f32 = 0;
        for (src) |v| amax = @max(amax, @abs(v));
        const d = amax / 127.0;
        const id: f32 = if (d != 0) 1.0 / d else 0;
        std.mem.writeInt(u16, out[0..2], common.f16Bits(d), .little);
        for (src, 0..) |v, i| out[2 + i] = @bitCast(@as(i8, @intFromFloat(@round(v * id))));
    }
}
