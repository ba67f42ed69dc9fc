//! The app's log, as `slipway logs`, the API and the dashboard's live view read it: its last
//! lines, or what came after an offset, filtered by source. Where it is kept is the placement's
//! business (on this machine: `LogFiles/app.log`, see [`crate::supervisor::app_log`]).

use super::Service;
use crate::app_name::AppName;
use crate::error::Result;
pub use crate::supervisor::app_log::{AppOutput, LogQuery, DEFAULT_LINES};

impl Service {
    pub async fn app_output(&self, app: &AppName, query: &LogQuery) -> Result<AppOutput> {
        self.require_app(app)?;
        Ok(self.shared.placement.read_log(app, query).await)
    }
}
