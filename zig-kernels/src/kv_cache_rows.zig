//! Rows of the MLA latent KV cache: one 576-wide row per token per layer in mainline order
//! [512 normed latent c ‖ 64 roped k_r]; V is the first 512 values of the same row
//! (MLA_SPEC §1.4 step 6). Three storage types, named by their ggml ids:
//! - f16 (1): 576 IEEE halves, 1152 bytes.
//! - q8_0 (8): 18 blocks of {f16 d, 32 int8}, 612 bytes (MLA_SPEC §3.1).
//! - q8_KV (151): {f32 d, i32 Σq, 576 int8}, 584 bytes (MLA_SPEC §3.9). Because the header
//!   comes first and the latent part first after it, the V view (first 512 int8 with the same
//!   row scale) stays a valid slice of the row.
//! Writing quantizes f32 rows at a position; reading dequantizes (tests, debugging).
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");

/// Width of a cache row (= a query row): 512 latent + 64 rope.
pub const dim_k: usize = 576;
/// Width of V: the latent part of a cache row.
pub const dim_v: usize = 512;
/// q8_0 block length.
pub const q8_0_block: usize = 32;
/// Bytes of one q8_0 block (f16 scale + 32 int8).
pub const q8_0_block_bytes: usize = 34;
/// Bytes of the q8_KV row header (f32 scale, i32 sum of quants).
pub const q8_kv_header_bytes: usize = 8;

/// Storage type of the cache; the values are ggml type ids.
pub const CacheType = enum(u32) {
    f16 = 1,
    q8_0 = 8,
    q8_KV = 151,

    /// The type with ggml id `id`, or null when the cache cannot hold that type.
    pub fn fromId(id: u32) ?CacheType {
        return std.meta.intToEnum(CacheType, id) catch null;
    }
};

/// Bytes of one stored row.
pub fn rowBytes(cache_type: CacheType) usize {
    return switch (cache_type) {
        .f16 => dim_k * 2,
        .q8_0 => (dim_k / q8_0_block) * q8_0_block_bytes,
        .q8_KV => q8_kv_header_bytes + dim_k,
    };
}

/// Quantizes one f32 row of 576 into `dst` (rowBytes bytes). Rounding: f16 is IEEE
/// round-to-nearest-even; the int8 types use id = 1/d, q = round-half-away(x·id) as ggml's
/// reference quantizers do, so a float64 twin in TypeScript reproduces every byte.
pub fn writeRow(cache_type: CacheType, dst: [*]u8, src: *const [dim_k]f32) void {
    switch (cache_type) {
        .f16 => {
            const out: [*]align(1) f16 = @ptrCast(dst);
            for (src, 0..) |x, i| out[i] = @floatCast(x);
        },
        .q8_0 => {
            for (0..dim_k / q8_0_block) |b| {
                const block = src[b * q8_0_block ..][0..q8_0_block];
                const out = dst + b * q8_0_block_bytes;
                const d = absMax(block) / 127.0;
                std.mem.writeInt(u16, out[0..2], @bitCast(@as(f16, @floatCast(d))), .little);
                _ = quantizeInto(block, d, @ptrCast(out + 2));
            }
        },
        .q8_KV => {
            const d = absMax(src) / 127.0;
            const quants: [*]i8 = @ptrCast(dst + q8_kv_header_bytes);
            const sum = quantizeInto(src, d, quants);
            std.mem.writeInt(u32, dst[0..4], @bitCast(d), .little);
            std.mem.writeInt(i32, dst[4..8], sum, .little);
        },
    }
}

/// Dequantizes one stored row into 576 f32.
pub fn readRow(cache_type: CacheType, src: [*]const u8, dst: *[dim_k]f32) void {
    switch (cache_type) {
        .f16 => {
            const in: [*]align(1) const f16 = @ptrCast(src);
            for (dst, 0..) |*x, i| x.* = in[i];
        },
        .q8_0 => {
            for (0..dim_k / q8_0_block) |b| {
                const block = src + b * q8_0_block_bytes;
                const d: f32 = @as(f16, @bitCast(std.mem.readInt(u16, block[0..2], .little)));
                const quants: [*]const i8 = @ptrCast(block + 2);
                for (0..q8_0_block) |i| dst[b * q8_0_block + i] = d * @as(f32, @floatFromInt(quants[i]));
            }
        },
        .q8_KV => {
            const d = rowScaleQ8KV(src);
            const quants: [*]const i8 = @ptrCast(src + q8_kv_header_bytes);
            for (dst, 0..) |*x, i| x.* = d * @as(f32, @floatFromInt(quants[i]));
        },
    }
}

/// The f32 scale of a q8_KV row.
pub inline fn rowScaleQ8KV(row: [*]const u8) f32 {
    return @bitCast(std.mem.readInt(u32, row[0..4], .little));
}

fn absMax(values: []const f32) f32 {
    var amax: f32 = 0;
    for (values) |x| amax = @max(amax, @abs(x));
    return amax;
}

/// q = round(x / d) computed as x·(1/d); all zeros when d is 0. Returns Σq.
pub fn quantizeInto(values: []const f32, d: f32, out: [*]i8) i32 {
    const id: f32 = if (d != 0) 1.0 / d else 0.0;
    var sum: i32 = 0;
    for (values, 0..) |x, i| {
        // |x·id| ≤ 127 up to one rounding of id, so the clamp only guards against that ulp.
        const q: i32 = @intFromFloat(std.math.clamp(@round(x * id), -127.0, 127.0));
        out[i] = @intCast(q);
        sum += q;
    }
    return sum;
}

/// Arguments of a multithreaded row write (the graph executor's form of `writeRow`).
pub const WriteArgs = struct {
    cache_type: CacheType,
    /// First byte of row 0 of the cache.
    cache: [*]u8,
    /// Row index the first source row goes to.
    first_row: usize,
    /// n_rows × 576 f32, row-major.
    rows: [*]const f32,
    n_rows: usize,
};

/// Writes thread `ith`'s share of the rows; no barrier, no scratch.
pub fn computeWrite(args: *const WriteArgs, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    const range = ThreadPool.splitRange(args.n_rows, ith, nth);
    const row_bytes = rowBytes(args.cache_type);
    for (range.start..range.end) |i| {
        const dst = args.cache + (args.first_row + i) * row_bytes;
        writeRow(args.cache_type, dst, args.rows[i * dim_k ..][0..dim_k]);
    }
}

test "rows round-trip within half a quantization step" {
    var prng = std.Random.DefaultPrng.init(11);
    const random = prng.random();
    var row: [dim_k]f32 = undefined;
    for (&row) |*x| x.* = random.float(f32) * 6.0 - 3.0;
    row[7] = 0;
    var stored: [rowBytes(.f16)]u8 = undefined;
    var back: [dim_k]f32 = undefined;
    for ([_]CacheType{ .f16, .q8_0, .q8_KV }) |cache_type| {
        writeRow(cache_type, &stored, &row);
        readRow(cache_type, &stored, &back);
        // f16 keeps 11 significant bits (error ≤ 2^-11 relative); int8 types err by ≤ d/2 with
        // d ≤ 3/127, plus the f16 rounding of the q8_0 scale (≤ 2^-11 relative of 127·d).
        const tolerance: f32 = switch (cache_type) {
            .f16 => 3.0 * std.math.pow(f32, 2, -11),
            .q8_0, .q8_KV => 3.0 / 127.0 / 2.0 + 3.0 * std.math.pow(f32, 2, -11),
        };
        for (row, back) |x, y| try std.testing.expectApproxEqAbs(x, y, tolerance);
        try std.testing.expectEqual(@as(f32, 0), back[7]);
    }
}

test "q8_KV header holds the row scale and the sum of quants" {
    var row: [dim_k]f32 = @splat(0);
    row[0] = 127;
    row[1] = -2;
    row[575] = 3;
    var stored: [rowBytes(.q8_KV)]u8 = undefined;
    writeRow(.q8_KV, &stored, &row);
    try std.testing.expectEqual(@as(f32, 1), rowScaleQ8KV(&stored));
    try std.testing.expectEqual(@as(i32, 128), std.mem.readInt(i32, stored[4..8], .little));
}
