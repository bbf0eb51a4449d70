//! CPU accounting for benchmarks: CPU time of processes, read from /proc.

/// CPU time (ns) used so far by all threads of `pid` (`/proc/PID/task/*/schedstat`).
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Pids whose command line starts with `exe` (the executable path) or contains `needle`.
#[allow(dead_code)]
pub fn pids_matching(pred: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| pred(&String::from_utf8_lossy(&c).replace('\0', " ")))
                .unwrap_or(false)
        })
        .collect()
}

/// Total CPU ns of `pids`.
#[allow(dead_code)]
pub fn cpu_sum(pids: &[u32]) -> u64 {
    pids.iter().map(|p| cpu_ns(*p)).sum()
}
