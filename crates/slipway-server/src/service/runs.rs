//! One-off commands in the live release: `slipway run APP -- CMD…` and cron jobs. Each run is
//! recorded (command, when, how it ended), its output kept in `LogFiles/runs/<id>.log` and sent
//! to whoever started it as it comes.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use slipway_build::log::Cancel;
use tokio::sync::mpsc;

use super::Service;
use crate::app_name::AppName;
use crate::error::{Error, Result};
use crate::oneoff::{Exit, OneOff};
use crate::store::{Run, RunTrigger};

/// How many runs of an app are kept, with their output.
const KEPT_RUNS: usize = 100;

/// What a run sends while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    Line(String),
    Exit(Exit),
}

/// The runs that have not ended, by id: how to stop each (a cron job's `replace` policy).
#[derive(Default)]
pub struct RunningCommands(Mutex<HashMap<i64, RunningCommand>>);

struct RunningCommand {
    app: AppName,
    trigger: RunTrigger,
    command: String,
    cancel: Cancel,
}

impl RunningCommands {
    /// Ids of the runs of `app`'s `command` started by `trigger` that have not ended.
    pub fn running(&self, app: &AppName, trigger: RunTrigger, command: &str) -> Vec<i64> {
        let runs = self.0.lock().unwrap();
        runs.iter()
            .filter(|(_, r)| r.app == *app && r.trigger == trigger && r.command == command)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn cancel(&self, id: i64, reason: &str) {
        if let Some(run) = self.0.lock().unwrap().get(&id) {
            run.cancel.cancel(reason);
        }
    }
}

impl Service {
    /// Starts `command` in the app's live release; its output and end arrive on the receiver.
    pub async fn start_run(
        &self,
        app: &AppName,
        command: &str,
        trigger: RunTrigger,
    ) -> Result<(Run, mpsc::UnboundedReceiver<RunEvent>)> {
        let command = command.trim();
        if command.is_empty() {
            return Err(Error::Invalid("the command is empty; expected e.g. `python manage.py migrate`".into()));
        }
        let active = self.active_deployment(app)?.ok_or_else(|| Error::NothingDeployed(app.clone()))?;
        let settings = self.settings(app)?;
        let paths = self.paths(app);
        std::fs::create_dir_all(paths.runs()).map_err(|e| Error::io("create", paths.runs(), e))?;
        let run = self.shared.store.insert_run(app, trigger, command, &self.shared.instance.name)?;
        let log_path = paths.run_log(run.id);
        let mut log = std::fs::File::create(&log_path).map_err(|e| Error::io("create", log_path, e))?;
        let cancel = Cancel::default();
        let running =
            RunningCommand { app: app.clone(), trigger, command: command.to_string(), cancel: cancel.clone() };
        self.shared.commands.0.lock().unwrap().insert(run.id, running);
        let (events, received) = mpsc::unbounded_channel();
        let (service, app, command, id) = (self.clone(), app.clone(), command.to_string(), run.id);
        tokio::spawn(async move {
            let release = service.paths(&app).release(active.id);
            let oneoff = OneOff {
                app: &app,
                release: &release,
                python: active.python_version.as_deref(),
                settings: &settings,
                command: &command,
                part: "run",
            };
            let mut output = |line: &str| {
                let line = slipway_build::log::escape_controls(line).into_owned();
                let _ = writeln!(log, "{line}");
                let _ = events.send(RunEvent::Line(line));
            };
            let exit = service.shared.placement.run_once(&service.shared, &oneoff, &cancel, &mut output).await;
            let exit = exit.unwrap_or_else(|e| Exit { code: None, description: e.public_message() });
            let outcome = match cancel.reason() {
                Some(reason) => format!("{} ({reason})", exit.description),
                None => exit.description.clone(),
            };
            if let Err(e) = service.shared.store.finish_run(id, exit.code, &outcome) {
                tracing::error!("recording the end of run {id} of {app}: {e}");
            }
            service.shared.commands.0.lock().unwrap().remove(&id);
            let _ = events.send(RunEvent::Exit(Exit { description: outcome, ..exit }));
            service.purge_runs(&app);
        });
        Ok((run, received))
    }

    /// The app's runs, newest first.
    pub fn runs(&self, app: &AppName, trigger: Option<RunTrigger>, limit: usize) -> Result<Vec<Run>> {
        self.require_app(app)?;
        Ok(self.shared.store.runs(app, trigger, limit)?)
    }

    /// A run's record and its output so far.
    pub fn run_output(&self, app: &AppName, id: i64) -> Result<(Run, String)> {
        self.require_app(app)?;
        let run = self.shared.store.run(app, id)?.ok_or_else(|| Error::NoSuchRun { app: app.clone(), id })?;
        let output = std::fs::read_to_string(self.paths(app).run_log(id)).unwrap_or_default();
        Ok((run, output))
    }

    fn purge_runs(&self, app: &AppName) {
        match self.shared.store.purge_runs(app, KEPT_RUNS) {
            Ok(ids) => {
                for id in ids {
                    let _ = std::fs::remove_file(self.paths(app).run_log(id));
                }
            }
            Err(e) => tracing::warn!("purging old runs of {app}: {e}"),
        }
    }
}
