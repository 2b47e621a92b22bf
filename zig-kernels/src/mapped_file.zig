//! Read-only memory maps of model files. Mapping is lazy: nothing is read until a page is
//! touched, so opening a multi-gigabyte GGUF costs a few syscalls.
const std = @import("std");
const Status = @import("status.zig").Status;

/// A mapped file: its bytes stay valid until `unmap`.
pub const MappedFile = struct {
    bytes: []align(std.heap.page_size_min) const u8,
};

/// Maps `path` read-only. Empty files are refused (mmap cannot map zero bytes).
pub fn map(path: [:0]const u8) error{ FileNotFound, IoError, EmptyFile }!MappedFile {
    const fd = std.c.open(path.ptr, .{ .ACCMODE = .RDONLY, .CLOEXEC = true });
    if (fd < 0) {
        return if (std.c._errno().* == @intFromEnum(std.c.E.NOENT)) error.FileNotFound else error.IoError;
    }
    defer _ = std.c.close(fd);
    var stat: std.c.Stat = undefined;
    if (std.c.fstat(fd, &stat) != 0) return error.IoError;
    if (stat.size <= 0) return error.EmptyFile;
    const len: usize = @intCast(stat.size);
    const addr = std.c.mmap(null, len, std.c.PROT.READ, .{ .TYPE = .PRIVATE }, fd, 0);
    if (addr == std.c.MAP_FAILED) return error.IoError;
    const bytes: [*]align(std.heap.page_size_min) const u8 = @ptrCast(@alignCast(addr));
    return .{ .bytes = bytes[0..len] };
}

/// Releases a mapping made by `map`.
pub fn unmap(file: MappedFile) void {
    _ = std.c.munmap(@constCast(file.bytes.ptr), file.bytes.len);
}

/// Hints the kernel that `[offset, offset+len)` will be read soon (weights about to stream).
pub fn adviseWillNeed(file: MappedFile, offset: usize, len: usize) void {
    const page = std.heap.page_size_min;
    const start = offset / page * page;
    if (start >= file.bytes.len) return;
    const end = @min(file.bytes.len, offset + len);
    const base: *align(page) anyopaque = @ptrCast(@alignCast(@constCast(file.bytes.ptr + start)));
    _ = std.c.madvise(base, end - start, std.c.MADV.WILLNEED);
}

test "map reads a file's bytes and refuses a missing one" {
    const path = "/tmp/flashmla_mapped_file_test.bin";
    {
        const file = try std.fs.cwd().createFile(path, .{});
        defer file.close();
        try file.writeAll("GGUF1234");
    }
    const mapped = try map(path);
    defer unmap(mapped);
    try std.testing.expectEqualStrings("GGUF1234", mapped.bytes);
    adviseWillNeed(mapped, 0, 8);
    try std.testing.expectError(error.FileNotFound, map("/tmp/flashmla_no_such_file.bin"));
}
