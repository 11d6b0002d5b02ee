//! CPU time of this process, from `/proc/self/stat` (no unsafe `getrusage`).

use std::collections::BTreeMap;
use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`; 100
/// on every Linux the project targets).
const TICKS_PER_SECOND: u64 = 100;

/// User and system CPU time of the whole process (all threads) so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn now() -> CpuTime {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| CpuTime::parse(&s))
            .unwrap_or_default()
    }

    /// Fields 14 and 15 (utime, stime); the command name (field 2) may hold
    /// spaces, so count from its closing parenthesis.
    fn parse(stat: &str) -> Option<CpuTime> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_ascii_whitespace().skip(11);
        let ticks = |f: Option<&str>| -> Option<Duration> {
            let t: u64 = f?.parse().ok()?;
            Some(Duration::from_millis(t * 1000 / TICKS_PER_SECOND))
        };
        let user = ticks(fields.next())?;
        let system = ticks(fields.next())?;
        Some(CpuTime { user, system })
    }

    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> Duration {
        self.user + self.system
    }
}

/// CPU time of this process's live threads, summed by name with any
/// trailing number dropped (`sled-io-1` and `sled-io-2` are `sled-io`).
pub fn by_thread() -> BTreeMap<String, CpuTime> {
    let mut out: BTreeMap<String, CpuTime> = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(name), Some(t)) = (thread_name(&stat), CpuTime::parse(&stat)) else {
            continue;
        };
        let sum = out.entry(name).or_default();
        sum.user += t.user;
        sum.system += t.system;
    }
    out
}

/// Field 2 of a task's `stat`, in parentheses, less a trailing `-N`.
fn thread_name(stat: &str) -> Option<String> {
    let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let base = base.strip_suffix('-').unwrap_or(name);
    Some(base.to_string())
}

/// The 1-minute load average, for the record.
pub fn load_average() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let stat = "42 (a b) R 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1";
        let t = CpuTime::parse(stat).unwrap();
        assert_eq!(t.user, Duration::from_millis(2500));
        assert_eq!(t.system, Duration::from_millis(310));
        assert!(CpuTime::now().total() < Duration::from_secs(3600));
    }

    #[test]
    fn threads_are_summed_by_name_without_their_number() {
        assert_eq!(
            thread_name("7 (sled-io-12) S 1").as_deref(),
            Some("sled-io")
        );
        assert_eq!(
            thread_name("7 (mgcp-driver) S 1").as_deref(),
            Some("mgcp-driver")
        );
        assert_eq!(thread_name("7 (cta2) S 1").as_deref(), Some("cta2"));
        let threads = by_thread();
        assert!(!threads.is_empty(), "this test's own thread is listed");
    }
}
