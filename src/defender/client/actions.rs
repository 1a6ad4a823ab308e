//! The action POSTs (isolate, unisolate, scan, cancel). They are never retried: a failure after
//! the request may have reached Defender (including a 2xx whose body cannot be read) comes back
//! as `Transport { ambiguous: true }`, and the caller reconciles by listing the machine's actions
//! before trying again.

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::{DefenderClient, non_empty_comment, segment};
use crate::defender::auth::TokenScope;
use crate::defender::budget::ApiFamily;
use crate::defender::error::{DefenderError, truncate};
use crate::defender::http::{Call, RetryClass};
use crate::defender::models::{IsolationType, MachineAction, ScanType};
use crate::defender::settings::CallOptions;

impl DefenderClient {
    /// `POST /api/machines/{id}/isolate` `{"Comment", "IsolationType"}`. Never retried.
    pub async fn isolate_machine(
        &self,
        id: &str,
        comment: &str,
        isolation: IsolationType,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let isolation = match isolation {
            IsolationType::Full => "Full",
            IsolationType::Selective => "Selective",
            IsolationType::UnManagedDevice => "UnManagedDevice",
        };
        let body = json!({ "Comment": non_empty_comment(comment)?, "IsolationType": isolation });
        let url = self.api_url(&["machines", segment("machine id", id)?, "isolate"])?;
        self.post_action(url, &body, opts).await
    }

    /// `POST /api/machines/{id}/unisolate` `{"Comment"}`. Never retried.
    pub async fn unisolate_machine(
        &self,
        id: &str,
        comment: &str,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let body = json!({ "Comment": non_empty_comment(comment)? });
        let url = self.api_url(&["machines", segment("machine id", id)?, "unisolate"])?;
        self.post_action(url, &body, opts).await
    }

    /// `POST /api/machines/{id}/runAntiVirusScan` `{"Comment", "ScanType"}`. Never retried.
    pub async fn run_antivirus_scan(
        &self,
        id: &str,
        comment: &str,
        scan: ScanType,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let scan = match scan {
            ScanType::Quick => "Quick",
            ScanType::Full => "Full",
        };
        let body = json!({ "Comment": non_empty_comment(comment)?, "ScanType": scan });
        let url = self.api_url(&["machines", segment("machine id", id)?, "runAntiVirusScan"])?;
        self.post_action(url, &body, opts).await
    }

    /// `POST /api/machineactions/{id}/cancel` `{"Comment"}`. Never retried.
    pub async fn cancel_machine_action(
        &self,
        id: &str,
        comment: &str,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let body = json!({ "Comment": non_empty_comment(comment)? });
        let url = self.api_url(&["machineactions", segment("action id", id)?, "cancel"])?;
        self.post_action(url, &body, opts).await
    }

    async fn post_action(
        &self,
        url: Url,
        body: &serde_json::Value,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let call = Call {
            method: Method::POST,
            url,
            family: ApiFamily::Actions,
            scope: TokenScope::Defender,
            body: Some(body),
            retry: RetryClass::Never,
            timeout: self.inner.settings.request_timeout,
        };
        let bytes = self.inner.exec.execute(&call, opts).await?;
        // A 2xx means Defender took the request; an answer that cannot be read (cut short by a
        // proxy, say) leaves only the outcome unknown, so it is ambiguous, not a failure.
        serde_json::from_slice(&bytes).map_err(|e| DefenderError::Transport {
            message: truncate(&format!(
                "Defender accepted the request but its answer could not be read: {e}"
            )),
            timeout: false,
            ambiguous: true,
        })
    }
}
