//! How an element-wise op over `n_rows × width` floats is shared among threads: whole rows when
//! there are enough of them (prefill), else column blocks of every row (one token, where a single
//! 10944-wide FFN row is the whole job).
const std = @import("std");

/// A rectangle of rows × columns one thread owns; empty when start == end in either dimension.
pub const Span = struct { row_start: usize, row_end: usize, col_start: usize, col_end: usize };

/// Columns are split in multiples of this many floats (one cache line) so threads never share a line.
const col_align: usize = 16;

/// The span thread `ith` of `nth` owns.
pub fn span(n_rows: usize, width: usize, ith: usize, nth: usize) Span {
    std.debug.assert(ith < nth);
    if (n_rows >= nth or width < col_align * nth) {
        const per = n_rows / nth;
        const extra = n_rows % nth;
        const start = ith * per + @min(ith, extra);
        return .{ .row_start = start, .row_end = start + per + @intFromBool(ith < extra), .col_start = 0, .col_end = width };
    }
    const blocks = (width + col_align - 1) / col_align;
    const per = blocks / nth;
    const extra = blocks % nth;
    const start = ith * per + @min(ith, extra);
    const end = start + per + @intFromBool(ith < extra);
    return .{ .row_start = 0, .row_end = n_rows, .col_start = @min(width, start * col_align), .col_end = @min(width, end * col_align) };
}

test "span covers every element exactly once" {
    const shapes = [_][2]usize{ .{ 1, 10944 }, .{ 1, 5 }, .{ 3, 100 }, .{ 7, 33 }, .{ 1, 17 }, .{ 2, 1408 } };
    for (shapes) |shape| {
        for (1..5) |nth| {
            var seen = [_]u8{0} ** (7 * 10944);
            for (0..nth) |ith| {
                const s = span(shape[0], shape[1], ith, nth);
                for (s.row_start..s.row_end) |r| for (s.col_start..s.col_end) |c| {
                    seen[r * shape[1] + c] += 1;
                };
            }
            for (seen[0 .. shape[0] * shape[1]]) |count| try std.testing.expectEqual(@as(u8, 1), count);
        }
    }
}
