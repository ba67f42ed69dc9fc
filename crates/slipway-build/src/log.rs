//! The build log: one line per event, written to its sink the moment it happens, and a closing table
//! of steps with their durations.
//!
//! The sink is a trait so that the CLI can print to stderr and the server can append to the
//! deployment's `log.txt` and stream to a `git push` at the same time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::process::kill_group;
use crate::{BuildError, Result};

pub trait LogSink: Send + Sync {
    fn line(&self, line: &str);
}

/// Writes each line to stderr, flushed at once.
pub struct StderrSink;

impl LogSink for StderrSink {
    fn line(&self, line: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
        let _ = err.flush();
    }
}

/// Collects lines in memory; for tests and for callers that want the log as a value.
#[derive(Default)]
pub struct MemorySink(Mutex<Vec<String>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl LogSink for MemorySink {
    fn line(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    Ok,
    Skipped,
    Failed,
}

/// One step of a build as it ended: the build's result as data, for whoever ran it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StepTiming {
    pub name: String,
    #[serde(with = "seconds")]
    pub duration: Duration,
    pub outcome: StepOutcome,
}

/// Durations as seconds (a float) in JSON.
mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Stops a running build from outside (an operator, a timeout): every process the build runs is
/// in a process group of its own, registered here; cancelling kills those groups, and the build
/// fails with the reason at its next step or when its current command ends.
#[derive(Clone, Default)]
pub struct Cancel(Arc<Mutex<CancelState>>);

#[derive(Default)]
struct CancelState {
    reason: Option<String>,
    groups: BTreeSet<i32>,
    /// Commands stay in the caller's process group (a build job, which its runner stops whole).
    callers_group: bool,
}

impl Cancel {
    /// For a build job: its commands stay in the job's process group, which whoever runs the job
    /// signals to stop everything at once.
    pub fn in_callers_group() -> Self {
        let cancel = Cancel::default();
        cancel.0.lock().unwrap().callers_group = true;
        cancel
    }

    /// Whether commands get a process group of their own.
    pub(crate) fn own_groups(&self) -> bool {
        !self.0.lock().unwrap().callers_group
    }

    /// Cancels the build (the first reason given is kept) and kills what it runs.
    pub fn cancel(&self, reason: impl Into<String>) {
        let mut state = self.0.lock().unwrap();
        state.reason.get_or_insert_with(|| reason.into());
        for group in &state.groups {
            kill_group(*group);
        }
    }

    pub fn reason(&self) -> Option<String> {
        self.0.lock().unwrap().reason.clone()
    }

    /// Records a running process group; if the build was cancelled meanwhile, kills it at once.
    pub fn register(&self, group: i32) {
        let mut state = self.0.lock().unwrap();
        if state.reason.is_some() {
            kill_group(group);
        }
        state.groups.insert(group);
    }

    pub fn unregister(&self, group: i32) {
        self.0.lock().unwrap().groups.remove(&group);
    }

    /// [`BuildError::Cancelled`] once cancelled.
    pub fn check(&self) -> Result<()> {
        match self.reason() {
            Some(reason) => Err(BuildError::Cancelled(reason)),
            None => Ok(()),
        }
    }
}

#[derive(Clone)]
pub struct BuildLog {
    sink: Arc<dyn LogSink>,
    steps: Arc<Mutex<Vec<StepTiming>>>,
    started: Instant,
    /// When the last line was written, for an idle timeout.
    last_line: Arc<Mutex<Instant>>,
    cancel: Cancel,
    /// Values no line may show (see [`crate::Settings::secrets`]), shared by every clone.
    secrets: Arc<Mutex<Vec<String>>>,
}

/// What a secret becomes in the log.
pub const MASK: &str = "****";

impl BuildLog {
    pub fn new(sink: Arc<dyn LogSink>) -> Self {
        let now = Instant::now();
        BuildLog {
            sink,
            steps: Arc::default(),
            started: now,
            last_line: Arc::new(Mutex::new(now)),
            cancel: Cancel::default(),
            secrets: Arc::default(),
        }
    }

    /// From now on, `secrets` are masked wherever they appear in a line: a private index's
    /// password in a URL that a tool prints, a token in a setting a script echoes.
    pub fn mask_secrets(&self, secrets: Vec<String>) {
        let mut known = self.secrets.lock().unwrap();
        known.extend(secrets.into_iter().filter(|s| !s.is_empty()));
        // Longest first, so a secret that contains another is masked whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
    }

    /// `text` with every known secret masked.
    pub fn masked(&self, text: &str) -> String {
        let secrets = self.secrets.lock().unwrap();
        secrets.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), MASK))
    }

    /// Every line goes out here, its secrets masked and its control characters escaped: a
    /// repository's file names, commit messages and build output cannot move the cursor of
    /// whoever reads the log (`git push`'s `remote:` lines, `slipway logs`).
    fn emit(&self, line: &str) {
        *self.last_line.lock().unwrap() = Instant::now();
        self.sink.line(&escape_controls(&self.masked(line)));
    }

    /// How long since the last line.
    pub fn idle_for(&self) -> Duration {
        self.last_line.lock().unwrap().elapsed()
    }

    /// A log whose build `cancel` can stop.
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    pub fn to_stderr() -> Self {
        Self::new(Arc::new(StderrSink))
    }

    pub fn info(&self, message: impl AsRef<str>) {
        for line in message.as_ref().lines() {
            self.emit(line);
        }
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.info(format!("warning: {}", message.as_ref()));
    }

    /// A line of a child process's output, indented under the step that runs it.
    pub fn output(&self, line: &str) {
        self.emit(&format!("    {}", line.trim_end()));
    }

    /// Runs one step: announces it, times it and records how it ended. A cancelled build runs
    /// no further step.
    pub fn step<T>(&self, name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        self.cancel.check()?;
        self.announce(name);
        let started = Instant::now();
        let result = run();
        self.record_step(name, started.elapsed(), result.is_ok());
        result
    }

    /// The header line of a step that the caller times itself (one that awaits, say).
    pub fn announce(&self, name: &str) {
        self.emit(&format!("--> {name}"));
    }

    /// A line another build's log already wrote (a build job's), passed on as it is but for
    /// control characters, which are escaped again: the job is not trusted.
    pub fn relay(&self, line: &str) {
        self.emit(line);
    }

    /// Records a step another process ran and timed (a build job's).
    pub fn record_reported(&self, step: StepTiming) {
        self.steps.lock().unwrap().push(step);
    }

    /// Records a step timed by the caller; see [`BuildLog::announce`].
    pub fn record_step(&self, name: &str, duration: Duration, ok: bool) {
        self.record(name, duration, if ok { StepOutcome::Ok } else { StepOutcome::Failed });
    }

    /// Records a step that did not run, with the reason, so the closing table lists every step.
    pub fn skip(&self, name: &str, why: impl AsRef<str>) {
        self.emit(&format!("--> {name}: skipped ({})", why.as_ref()));
        self.record(name, Duration::ZERO, StepOutcome::Skipped);
    }

    fn record(&self, name: &str, duration: Duration, outcome: StepOutcome) {
        self.steps.lock().unwrap().push(StepTiming { name: name.to_string(), duration, outcome });
    }

    pub fn timings(&self) -> Vec<StepTiming> {
        self.steps.lock().unwrap().clone()
    }

    /// The closing table: one line per step and the total.
    pub fn write_summary(&self) {
        self.emit("Step timings:");
        for step in self.timings() {
            let outcome = match step.outcome {
                StepOutcome::Ok => "ok",
                StepOutcome::Skipped => "skipped",
                StepOutcome::Failed => "FAILED",
            };
            self.emit(&format!("  {:<14} {:>9}  {outcome}", step.name, format_duration(step.duration)));
        }
        self.emit(&format!("  {:<14} {:>9}", "total", format_duration(self.started.elapsed())));
    }
}

/// `text` with every control character but the tab written as an escape (`\u{1b}`).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` with every character but printable ASCII and the space written as an escape, for a
/// value quoted in an error, where an invisible character (`3.12\u{200b}`, a no-break space)
/// is the whole problem.
pub fn escape_invisible(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c.to_string() } else { format!("\\u{{{:x}}}", c as u32) })
        .collect()
}

pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain\ttext"), "plain\ttext");
        assert_eq!(escape_controls("\u{1b}[2Jgone\r\0"), "\\u{1b}[2Jgone\\u{d}\\u{0}");
        let sink = Arc::new(MemorySink::default());
        BuildLog::new(sink.clone()).output("\u{1b}]0;title\u{7}");
        assert_eq!(sink.lines(), ["    \\u{1b}]0;title\\u{7}"]);
    }

    #[test]
    fn secrets_are_masked_in_every_line() {
        let sink = Arc::new(MemorySink::default());
        let log = BuildLog::new(sink.clone());
        log.mask_secrets(vec!["s3cret".into(), "s3cret-longer".into()]);
        log.info("Looking in indexes: https://me:s3cret@idx/simple and s3cret-longer");
        assert_eq!(sink.lines(), ["Looking in indexes: https://me:****@idx/simple and ****"]);
        assert_eq!(log.masked("a s3cret b"), "a **** b");
    }

    #[test]
    fn invisible_characters_are_shown() {
        assert_eq!(escape_invisible("3.12\u{200b}"), "3.12\\u{200b}");
        assert_eq!(escape_invisible("3.12\u{a0}x"), "3.12\\u{a0}x");
        assert_eq!(escape_invisible("python-3.12"), "python-3.12");
    }

    #[test]
    fn summary_lists_every_step_with_its_outcome() {
        let sink = Arc::new(MemorySink::default());
        let log = BuildLog::new(sink.clone());
        log.step("sync", || Ok(())).unwrap();
        log.skip("install", "no requirements.txt");
        let _ = log.step("env", || Err::<(), _>(crate::BuildError::NoRuntimes));
        log.write_summary();
        let lines = sink.lines();
        assert!(lines.iter().any(|l| l.starts_with("  sync") && l.ends_with("ok")), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with("  install") && l.ends_with("skipped")));
        assert!(lines.iter().any(|l| l.starts_with("  env") && l.ends_with("FAILED")));
        assert!(lines.last().unwrap().starts_with("  total"));
    }
}
