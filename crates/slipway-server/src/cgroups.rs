//! Resource limits per app: `MEMORY_LIMIT` (`512M`, `1G`), `CPU_LIMIT` (cores, `0.5`) and
//! `PROCESS_LIMIT` (processes and threads, default [`DEFAULT_PROCESS_LIMIT`]), applied with
//! cgroups to the app's processes (`<app>/web`) and, separately, to its builds (`<app>/build`):
//! cgroup v2 where the host has it, v1 (memory, cpu, pids hierarchies) where that is what it has,
//! and rlimits as the last resort. The groups are made below the server's own group, so a limit
//! the host puts on slipway still holds over all its apps.
//!
//! A process joins its group before it runs anything ([`Group::attach_on_exec`]); its
//! descendants inherit it. An app killed for memory is told apart from a crash by the group's
//! `oom_kill` counter.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::app_name::AppName;
use crate::settings::{AppSettings, SettingError};

pub const DEFAULT_PROCESS_LIMIT: u64 = 1024;

/// What an app may use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub cpu: Option<f64>,
    pub processes: Option<u64>,
}

impl Limits {
    pub fn of(settings: &AppSettings) -> Result<Self, SettingError> {
        Ok(Limits {
            memory: settings.memory_limit()?,
            cpu: settings.cpu_limit()?,
            processes: Some(settings.process_limit()?),
        })
    }
}

/// The host's cgroups, as this server uses them.
#[derive(Debug, Clone)]
pub enum Cgroups {
    /// cgroup v2: the folder below which each app gets its groups.
    V2(PathBuf),
    /// cgroup v1: that folder in each hierarchy slipway uses.
    V1 { memory: Option<PathBuf>, cpu: Option<PathBuf>, pids: Option<PathBuf> },
    /// No cgroups this server may write: rlimits only.
    Unavailable,
}

impl Cgroups {
    /// Finds the cgroup file system and this process's own group in it, and makes
    /// `slipway-<owner>` below it. Anything missing or not writable means [`Cgroups::Unavailable`].
    pub fn detect(owner: &str) -> Self {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let name = format!("slipway-{owner}");
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        if v2.is_file() {
            let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
            let own = Path::new("/sys/fs/cgroup").join(own.trim_start_matches('/'));
            let dir = own.join(&name);
            return match make_v2(&dir).or_else(|_| delegate_v2(&own, &dir)) {
                Ok(()) => Cgroups::V2(dir),
                Err(e) => {
                    tracing::warn!("cgroup v2 is not delegated to slipway ({e}): limits fall back to rlimits; run it as a systemd service with Delegate=yes");
                    Cgroups::Unavailable
                }
            };
        }
        let hierarchy = |controller: &str| {
            let own = own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers.split(',').any(|c| c == controller).then(|| path.to_string())
            })?;
            let dir = Path::new("/sys/fs/cgroup").join(controller).join(own.trim_start_matches('/')).join(&name);
            std::fs::create_dir_all(&dir).ok().map(|_| dir)
        };
        let (memory, cpu, pids) = (hierarchy("memory"), hierarchy("cpu"), hierarchy("pids"));
        if memory.is_none() && cpu.is_none() && pids.is_none() {
            return Cgroups::Unavailable;
        }
        Cgroups::V1 { memory, cpu, pids }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Cgroups::V2(_) => "cgroup v2",
            Cgroups::V1 { .. } => "cgroup v1",
            Cgroups::Unavailable => "rlimits only (no writable cgroups)",
        }
    }

    /// The group of the app's processes (`web`) or builds (`build`), made with `limits`.
    pub fn group(&self, app: &AppName, part: &str, limits: &Limits) -> std::io::Result<Group> {
        match self {
            Cgroups::Unavailable => Ok(Group { procs: Vec::new(), oom: None, rlimits: *limits }),
            Cgroups::V2(root) => {
                let app_dir = root.join(app.as_str());
                make_v2(&app_dir)?;
                let dir = app_dir.join(part);
                std::fs::create_dir_all(&dir)?;
                write(&dir.join("memory.max"), &limits.memory.map_or("max".into(), |m| m.to_string()))?;
                write(
                    &dir.join("cpu.max"),
                    &limits.cpu.map_or("max 100000".into(), |c| format!("{} 100000", (c * 100_000.0) as u64)),
                )?;
                write(&dir.join("pids.max"), &limits.processes.map_or("max".into(), |p| p.to_string()))?;
                Ok(Group {
                    procs: vec![dir.join("cgroup.procs")],
                    oom: Some(Oom::V2(dir.join("memory.events"))),
                    rlimits: Limits::default(),
                })
            }
            Cgroups::V1 { memory, cpu, pids } => {
                let mut group = Group { procs: Vec::new(), oom: None, rlimits: Limits::default() };
                if let Some(root) = memory {
                    let dir = root.join(app.as_str()).join(part);
                    std::fs::create_dir_all(&dir)?;
                    // -1: no limit.
                    write(&dir.join("memory.limit_in_bytes"), &limits.memory.map_or("-1".into(), |m| m.to_string()))?;
                    group.procs.push(dir.join("cgroup.procs"));
                    group.oom = Some(Oom::V1(dir.join("memory.oom_control")));
                } else {
                    group.rlimits.memory = limits.memory;
                }
                if let Some(root) = cpu {
                    let dir = root.join(app.as_str()).join(part);
                    std::fs::create_dir_all(&dir)?;
                    write(&dir.join("cpu.cfs_period_us"), "100000")?;
                    write(
                        &dir.join("cpu.cfs_quota_us"),
                        &limits.cpu.map_or("-1".into(), |c| ((c * 100_000.0) as u64).to_string()),
                    )?;
                    group.procs.push(dir.join("cgroup.procs"));
                }
                if let Some(root) = pids {
                    let dir = root.join(app.as_str()).join(part);
                    std::fs::create_dir_all(&dir)?;
                    write(&dir.join("pids.max"), &limits.processes.map_or("max".into(), |p| p.to_string()))?;
                    group.procs.push(dir.join("cgroup.procs"));
                } else {
                    group.rlimits.processes = limits.processes;
                }
                Ok(group)
            }
        }
    }

    fn roots(&self) -> Vec<&PathBuf> {
        match self {
            Cgroups::V2(root) => vec![root],
            Cgroups::V1 { memory, cpu, pids } => [memory, cpu, pids].into_iter().flatten().collect(),
            Cgroups::Unavailable => Vec::new(),
        }
    }

    /// Removes the app's groups, after it was deleted: in the background, for a few seconds if
    /// need be, since a stopped process leaves its group only once the kernel has reaped it.
    pub fn remove(&self, app: &AppName) {
        let dirs: Vec<PathBuf> = self.roots().into_iter().map(|root| root.join(app.as_str())).collect();
        std::thread::spawn(move || {
            for _ in 0..50 {
                dirs.iter().for_each(|dir| remove_empty_groups(dir));
                if dirs.iter().all(|dir| !dir.exists()) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    }

    /// At shutdown, once every process has stopped: the server's groups, which are empty now.
    pub fn remove_all(&self) {
        for root in self.roots() {
            remove_empty_groups(root);
        }
    }
}

/// Removes `dir` and the groups below it, deepest first; a group that still has a process
/// (or is the server's own) stays.
fn remove_empty_groups(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_groups(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// cgroup v2 when the server's own group does not hand the controllers down yet (a systemd
/// service with `Delegate=yes`, a container): the server moves into a leaf group of its own
/// (`<dir>/server`, since a group with processes cannot enable controllers for its children),
/// then enables them in its former group and in `dir`.
fn delegate_v2(own: &Path, dir: &Path) -> std::io::Result<()> {
    let leaf = dir.join("server");
    std::fs::create_dir_all(&leaf)?;
    write(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
    write(&own.join("cgroup.subtree_control"), "+memory +cpu +pids")?;
    make_v2(dir)
}

/// cgroup v2: a group whose children may use the memory, cpu and pids controllers.
fn make_v2(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write(&dir.join("cgroup.subtree_control"), "+memory +cpu +pids")
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// One group of one app: where a process joins it, and how to tell it was killed for memory.
#[derive(Debug, Clone)]
pub struct Group {
    procs: Vec<PathBuf>,
    oom: Option<Oom>,
    /// What cgroups could not limit, limited per process instead.
    rlimits: Limits,
}

#[derive(Debug, Clone)]
enum Oom {
    /// `memory.events`: `oom_kill N`.
    V2(PathBuf),
    /// `memory.oom_control`: `oom_kill N`.
    V1(PathBuf),
}

impl Group {
    /// How many processes the kernel killed in this group for memory so far.
    pub fn oom_kills(&self) -> u64 {
        let path = match &self.oom {
            Some(Oom::V2(path) | Oom::V1(path)) => path,
            None => return 0,
        };
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// Makes the process that `command` starts join this group (and take the rlimits cgroups
    /// could not give) before it runs anything.
    pub fn attach_on_exec(&self, command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let procs: Vec<CString> =
            self.procs.iter().filter_map(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok()).collect();
        let rlimits = self.rlimits;
        // SAFETY: between fork and exec only async-signal-safe calls are made (open, write,
        // close, setrlimit), on memory prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if written != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(bytes) = rlimits.memory {
                    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
                    libc::setrlimit(libc::RLIMIT_AS, &limit);
                }
                if let Some(count) = rlimits.processes {
                    let limit = libc::rlimit { rlim_cur: count, rlim_max: count };
                    libc::setrlimit(libc::RLIMIT_NPROC, &limit);
                }
                Ok(())
            });
        }
    }
}

/// `512M`, `1G`, `300k`, `1048576`: bytes (K, M, G are powers of 1024; a trailing `B` or `i` is
/// allowed: `512MiB`, `1GB`).
pub fn parse_bytes(value: &str) -> Option<u64> {
    let value = value.trim();
    let digits = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let number: u64 = value[..digits].parse().ok()?;
    let unit = value[digits..].trim().to_ascii_lowercase();
    let factor = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor).filter(|bytes| *bytes > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("1G"), Some(1 << 30));
        assert_eq!(parse_bytes("1gb"), Some(1 << 30));
        assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("5T"), None);
    }
}
