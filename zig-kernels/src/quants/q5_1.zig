//! Q5_1 (ggml type 7): 32 elements in 24 bytes — `d` and `m` fp16, `qh` (32 fifth bits, as in
//! Q5_0), then 16 bytes of low nibbles; x[j] = d·q_j + m. llama.cpp's fallback for Q5_K rows that
//! are not whole 256-blocks: every `ffn_down_exps` of a Q5_K_M V2-Lite file.
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const q5_0 = @import("q5_0.zig");

pub const block_elements = 32;
pub const block_bytes = 24;
pub const unsigned_quants = true;
pub const offset: f32 = 0;
pub const has_min = true;

pub inline fn scale(w: [*]const u8) f32 {
    return common.f16At(w);
}

pub inline fn decodeSimd(w: [*]const u8) simd.U8x32 {
    return block32.unpackNibbles(w[8..24]) | q5_0.highBits(w[4..8]);
}

/// Raw 5-bit codes (m is added by the engine).
pub inline fn decodeScalar(w: [*]const u8, values: *[32]i32) void {
    common.unpackCodes(w[8..24], std.mem.readInt(u32, w[4..8], .little), 0, values);
}

const engine = block32.Engine(@This());
pub const dots = engine.dots;
pub const dequantizeRow = engine.dequantizeRow;
/// This type's rows as gemm32 panels (q5_0_r8.zig's Q5_1 decodes its trailing rows with it).
pub const gemmDecoder = engine.gemmDecoder;

/// Reference quantization (ggml quantize_row_q5_1_ref): d = (max − min)/31, m = min,
/// q = trunc((x − min)/d + 0.5).
pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    for (0..x.len / 32) |b| {
        const out = dst + b * block_bytes;
        var codes: [32]u8 = undefined;
        const dm = common.minCodes(32, x[b * 32 ..][0..32], &codes);
        std.mem.writeInt(u16, out[0..2], common.f16Bits(dm.d), .little);
        std.mem.writeInt(u16, out[2..4], common.f16Bits(dm.m), .little);
        std.mem.writeInt(u32, out[4..8], common.packNibbles(&codes, out[8..24]), .little);
    }
}
