//! `docker.ps` and `docker.logs`: what runs and what it printed, for one
//! service or all of a project (the djangopackages guide's `ps`, `status`
//! and `logs` tasks). They change nothing, so they always run.

use std::time::Duration;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::OutputStream;
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;
use crate::compose::{PROJECT_LABEL, SERVICE_LABEL};
use crate::container::{LogRequest, MANAGED_LABEL};

/// Which containers: a compose project and/or service, or every container
/// deploy manages on the host.
#[derive(Clone, Debug)]
struct Selection<'a> {
    project: Option<&'a Text>,
    service: Option<&'a Text>,
}

impl Selection<'_> {
    fn labels(&self, ctx: &StepContext<'_>) -> Result<Vec<(&'static str, String)>, StepError> {
        let mut labels = Vec::new();
        if let Some(project) = self.project {
            labels.push((PROJECT_LABEL, ctx.resolve(project)?));
        }
        if let Some(service) = self.service {
            labels.push((SERVICE_LABEL, ctx.resolve(service)?));
        }
        if labels.is_empty() {
            labels.push((MANAGED_LABEL, "true".to_owned()));
        }
        Ok(labels)
    }

    fn describe(&self) -> String {
        match (&self.project, &self.service) {
            (Some(p), Some(s)) => format!("service {s} of {p}"),
            (Some(p), None) => format!("every service of {p}"),
            (None, Some(s)) => format!("service {s}"),
            (None, None) => "every container deploy manages".to_owned(),
        }
    }
}

/// Lists containers with their state, health, version and uptime.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ListContainers;
///
/// let step: ListContainers = toml::from_str(r#"project = "shop""#).unwrap();
/// assert_eq!(step.describe().summary, "list every service of shop (state, health, version, uptime)");
/// assert!(toml::from_str::<ListContainers>(r#"projct = "shop""#).is_err());
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListContainers {
    project: Option<Text>,
    service: Option<Text>,
    engine: Option<Text>,
}

impl ListContainers {
    fn which(&self) -> Selection<'_> {
        Selection {
            project: self.project.as_ref(),
            service: self.service.as_ref(),
        }
    }
}

impl Kind for ListContainers {
    const KIND: &'static str = "docker.ps";
}

#[async_trait]
impl Step for ListContainers {
    fn describe(&self) -> Description {
        Description::new(format!(
            "list {} (state, health, version, uptime)",
            self.which().describe()
        ))
        .field_opt("engine", self.engine.as_ref())
        .shows_output()
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let labels = self.which().labels(ctx)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let wanted: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for c in engine.list(&wanted).await? {
            let uptime = c
                .uptime
                .map_or_else(|| "-".to_owned(), deploy_core::duration::format);
            ctx.output.line(
                OutputStream::Stdout,
                &format!(
                    "{} {} {} health={} version={} up={}",
                    c.name,
                    c.image,
                    c.state,
                    c.health,
                    c.version().unwrap_or("-"),
                    uptime
                ),
            );
        }
        Ok(Applied::done())
    }
}

/// Prints containers' logs (each line prefixed with its container).
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ShowLogs;
///
/// let step: ShowLogs = toml::from_str(r#"project = "shop"
/// service = "web"
/// tail = 100
/// since = "10m""#).unwrap();
/// assert_eq!(step.describe().summary, "logs of service web of shop");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowLogs {
    project: Option<Text>,
    service: Option<Text>,
    tail: Option<u32>,
    #[serde(default, with = "deploy_core::duration::serde_opt")]
    since: Option<Duration>,
    #[serde(default)]
    follow: bool,
    engine: Option<Text>,
}

impl ShowLogs {
    fn which(&self) -> Selection<'_> {
        Selection {
            project: self.project.as_ref(),
            service: self.service.as_ref(),
        }
    }
}

impl Kind for ShowLogs {
    const KIND: &'static str = "docker.logs";
}

#[async_trait]
impl Step for ShowLogs {
    fn describe(&self) -> Description {
        Description::new(format!("logs of {}", self.which().describe()))
            .field_opt("tail", self.tail.map(|t| format!("last {t} lines")))
            .field_opt("since", self.since.map(deploy_core::duration::format))
            .field_opt(
                "follow",
                self.follow
                    .then_some("until the containers stop or the run is interrupted"),
            )
            .field_opt("engine", self.engine.as_ref())
            .shows_output()
    }

    fn runs_until_interrupted(&self) -> bool {
        self.follow
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let labels = self.which().labels(ctx)?;
        let since = self.since.map(|ago| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            i64::try_from(now.saturating_sub(ago.as_secs())).unwrap_or(0)
        });
        let request = LogRequest {
            tail: self.tail,
            follow: self.follow,
            since,
            timestamps: false,
        };
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let wanted: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        engine
            .logs_of(&wanted, &request, ctx.output)
            .await
            .map(|_| ())?;
        Ok(Applied::done())
    }
}
