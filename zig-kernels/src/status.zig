//! Status codes every export returns; `ffi/status.ts` mirrors them and turns them into errors.
//! Exports never panic across the FFI boundary: they check their arguments and return a code.

/// 0 is success; every failure is negative.
pub const Status = enum(i32) {
    ok = 0,
    invalid_argument = -1,
    out_of_memory = -2,
    io_error = -3,
    file_not_found = -4,
    unsupported_type = -5,
    thread_spawn_failed = -6,
    shape_mismatch = -7,
};

/// The status as the C integer an export returns.
pub fn code(status: Status) i32 {
    return @intFromEnum(status);
}
