//! `WEB_CONCURRENCY`'s default for a detected gunicorn or uvicorn, as Heroku sets it: two worker
//! processes per CPU core plus one, but no more than the app's memory allows (256 MB each).

use crate::settings::{AppSettings, CPU_LIMIT};

/// Memory one worker is assumed to need.
const MEMORY_PER_WORKER: u64 = 256 << 20;

/// The number of workers, and why, for the log.
pub fn default(settings: &AppSettings) -> (u32, String) {
    let host_cores = std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0);
    let limit = settings.cpu_limit().ok().flatten();
    let cores = limit.map_or(host_cores, |limit| limit.min(host_cores)).ceil().max(1.0) as u32;
    let by_cpu = 2 * cores + 1;
    let source = if limit.is_some() { CPU_LIMIT } else { "the host" };
    let by_cpu_why = format!("2 × {cores} CPU core{} ({source}) + 1", if cores == 1 { "" } else { "s" });
    match settings.memory_limit().ok().flatten() {
        Some(memory) => {
            let by_memory = (memory / MEMORY_PER_WORKER).max(1) as u32;
            if by_memory < by_cpu {
                (by_memory, format!("MEMORY_LIMIT allows {by_memory} at 256 MB each (fewer than {by_cpu_why})"))
            } else {
                (by_cpu, by_cpu_why)
            }
        }
        None => (by_cpu, by_cpu_why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AppSettings {
        AppSettings::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn cores_and_memory_decide() {
        let (workers, why) = default(&settings(&[("CPU_LIMIT", "1")]));
        assert_eq!((workers, why.as_str()), (3, "2 × 1 CPU core (CPU_LIMIT) + 1"));
        let (workers, why) = default(&settings(&[("CPU_LIMIT", "1"), ("MEMORY_LIMIT", "512M")]));
        assert_eq!(workers, 2, "{why}");
        assert!(why.starts_with("MEMORY_LIMIT allows 2"), "{why}");
        let (workers, _) = default(&settings(&[("CPU_LIMIT", "0.5"), ("MEMORY_LIMIT", "128M")]));
        assert_eq!(workers, 1);
    }
}
