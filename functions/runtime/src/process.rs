//! Facts about the running process, for progress and benchmark reports, and how it
//! treats memory.

/// `mi_option_purge_delay` in the mimalloc this crate links (the enum in its
/// `mimalloc.h`, which the bindings do not name); a test checks that it still
/// names that option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the memory the process frees for its next allocations instead of handing
/// it back to the kernel a second later. Imports free and allocate hundreds of
/// megabytes over and over; each page handed back is faulted in and zeroed again
/// when reused: side by side, the bench's committer used 12-25 % less CPU time
/// without it in two series of three runs (no difference in a third), and its
/// minor faults fell from about 80,000 to 18,000. Peak memory is what the process
/// held at most either way.
/// Call at the start of `main`. It concerns mimalloc only, which the binaries but the
/// committer function allocate with; `MIMALLOC_PURGE_DELAY` in the environment
/// overrides it (in milliseconds; mimalloc reads it).
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: setting an option is allowed at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// What each Lambda function does first: keeps freed memory (see
/// [`keep_freed_memory`]) and logs JSON lines, filtered by `RUST_LOG` (default `info`);
/// every line about a job carries its id (`span.job`).
pub fn start_function() {
    keep_freed_memory();
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// Peak resident set size of this process in bytes (`VmHWM`), where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time used so far by all of this process's threads, user and system, in seconds.
pub fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reading an option is allowed at any time.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // 1000 ms in the linked release (options.c); MIMALLOC_PURGE_DELAY overrides it.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                default, 1000,
                "option {MI_OPTION_PURGE_DELAY} is not the purge delay"
            );
        }
        keep_freed_memory();
        let set = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, -1);
    }
}
