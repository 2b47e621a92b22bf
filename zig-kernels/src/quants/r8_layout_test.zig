//! The test every r8 layout passes (r8.zig, q4_k_r8.zig, q5_0_r8.zig, q5_k_r8.zig, q6_k_r8.zig,
//! q8_0_r8.zig): the repack round-trips byte for byte, and the layout's row-range dots and GEMM
//! tile (if it has one) give the file layout's results, SIMD and scalar.
const std = @import("std");
const cpu_path = @import("../cpu_path.zig");
const quants = @import("quants.zig");

/// What one layout's test varies.
pub const Spec = struct {
    /// Row length: the K-quants take 3 super-blocks, the 32-blocks 11 (two whole Q8A groups of
    /// 4 and 3 single blocks).
    k: usize,
    /// ggml id of the file type: its dots and GEMM tile are the reference.
    file_type: u32,
    seed: u64,
    /// Overwrites parts of each quantized file block (random scale bytes, extreme codes), so
    /// the packing meets patterns the reference quantizer never writes.
    scramble: ?*const fn (random: std.Random, block: []u8) void = null,
};

/// Checks layout `L` (repackMatrix, unpackMatrix, rows_dots, gemmTile if any) against file type `File`
/// (quantizeRow, block_elements, block_bytes) on 19 padded rows: 2 groups and 3 file-layout
/// rows, row ranges that end inside the trailing rows, 1..4 tokens per dot and 9 per tile.
pub fn expectLayoutMatchesFile(comptime L: type, comptime File: type, comptime spec: Spec) !void {
    const k = spec.k;
    const n = 19;
    const nb = k / File.block_elements;
    const used = nb * File.block_bytes;
    const row_bytes = used + 16; // padded rows: groups are 8 × row_bytes long
    var prng = std.Random.DefaultPrng.init(spec.seed);
    const random = prng.random();
    var file: [n * row_bytes]u8 = @splat(0);
    var x: [k]f32 = undefined;
    for (0..n) |r| {
        for (&x) |*v| v.* = random.floatNorm(f32);
        File.quantizeRow(&x, file[r * row_bytes ..].ptr);
        if (spec.scramble) |scramble| {
            for (0..nb) |b| scramble(random, file[r * row_bytes + b * File.block_bytes ..][0..File.block_bytes]);
        }
    }
    var packed_m: [file.len]u8 = @splat(0);
    L.repackMatrix(&file, &packed_m, row_bytes, k, n);
    var back: [file.len]u8 = @splat(0);
    L.unpackMatrix(&packed_m, &back, row_bytes, k, n);
    for (0..n) |r| try std.testing.expectEqualSlices(u8, file[r * row_bytes ..][0..used], back[r * row_bytes ..][0..used]);

    const traits = quants.traits(spec.file_type).?;
    const t = 9;
    const act_row = traits.activation.rowBytes(k);
    const acts = try std.testing.allocator.alloc(u8, t * act_row);
    defer std.testing.allocator.free(acts);
    for (0..t) |c| {
        for (&x) |*v| v.* = random.floatNorm(f32);
        traits.activation.quantizeRow(&x, acts[c * act_row ..].ptr);
    }
    for ([_]bool{ true, false }) |use_simd| {
        cpu_path.use_simd.store(use_simd, .monotonic);
        defer cpu_path.use_simd.store(true, .monotonic);
        inline for (1..5) |ncols| {
            // Every range starts at a multiple of 8 and ends anywhere up to n.
            for ([_][2]usize{ .{ 0, n }, .{ 8, 16 }, .{ 8, 19 }, .{ 16, 18 }, .{ 0, 8 } }) |range| {
                var got: [4 * n]f32 = undefined;
                L.rows_dots[ncols - 1](&packed_m, row_bytes, n, range[0], range[1], acts.ptr, act_row, k, &got, n);
                for (range[0]..range[1]) |r| {
                    var want: [4]f32 = undefined;
                    traits.dots[ncols - 1](file[r * row_bytes ..].ptr, acts.ptr, act_row, k, &want);
                    for (0..ncols) |c| try std.testing.expectApproxEqAbs(want[c], got[c * n + r - range[0]], 1e-4 * (1 + @abs(want[c])));
                }
            }
        }
        // Q4_K_R8 has no tile: its dots serve every token count. (Q4_0_R8 has one, tested
        // here, though its traits leave it to the dots: quants.zig.)
        if (@hasDecl(L, "gemmTile")) {
            var y_r8: [t * n]f32 = undefined;
            var y_file: [t * n]f32 = undefined;
            L.gemmTile(&packed_m, row_bytes, n, acts.ptr, act_row, t, k, &y_r8, n);
            traits.gemm_tile.?(&file, row_bytes, n, acts.ptr, act_row, t, k, &y_file, n);
            for (y_file, y_r8) |want, got| try std.testing.expectApproxEqAbs(want, got, 1e-4 * (1 + @abs(want)));
        }
    }
}
