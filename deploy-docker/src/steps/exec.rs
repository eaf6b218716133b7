//! `docker.exec`: run a command in a running container (`manage.py migrate`,
//! `collectstatic`), its output streamed, its exit status checked.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Step, StepContext, StepError};
use deploy_core::target::DiscardOutput;
use deploy_core::target::ExitStatus;
use deploy_core::text::Text;
use serde::Deserialize;

use super::{resolve_all, shown, with_engine};

/// Runs `cmd` in `container`; with `unless`, done already when that command
/// exits 0 in the container.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ExecInContainer;
///
/// let step = ExecInContainer::new("shop-web", ["python", "manage.py", "migrate"]);
/// assert_eq!(step.describe().summary, "in container shop-web: python manage.py migrate");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecInContainer {
    container: Text,
    cmd: Vec<Text>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    unless: Option<Vec<Text>>,
    engine: Option<Text>,
}

impl ExecInContainer {
    /// Runs `cmd` in `container`.
    pub fn new<I, S>(container: &str, cmd: I) -> ExecInContainer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ExecInContainer {
            container: Text::from(container),
            cmd: cmd.into_iter().map(|s| Text::from(s.as_ref())).collect(),
            env: BTreeMap::new(),
            unless: None,
            engine: None,
        }
    }
}

#[async_trait]
impl Step for ExecInContainer {
    fn kind(&self) -> &str {
        "docker.exec"
    }

    fn describe(&self) -> Description {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Description::new(format!(
            "in container {}: {}",
            self.container,
            shown(&self.cmd)
        ))
        .field_opt("env", (!env.is_empty()).then(|| env.join(" ")))
        .field_opt("unless", self.unless.as_deref().map(shown))
        .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let Some(unless) = &self.unless else {
            return Ok(false);
        };
        let container = ctx.resolve(&self.container)?;
        let cmd = resolve_all(ctx, unless)?;
        with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move {
                let outcome = engine
                    .exec(&container, &cmd, &BTreeMap::new(), &DiscardOutput)
                    .await?;
                Ok(outcome.exit_code == 0)
            })
        })
        .await
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let container = ctx.resolve(&self.container)?;
        let cmd = resolve_all(ctx, &self.cmd)?;
        let mut env = BTreeMap::new();
        for (name, value) in &self.env {
            env.insert(name.clone(), ctx.resolve(value)?);
        }
        let output = ctx.output;
        let shown_cmd = format!("{} (in container {container})", shown(&self.cmd));
        let outcome = with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move { engine.exec(&container, &cmd, &env, output).await })
        })
        .await?;
        if outcome.exit_code == 0 {
            Ok(Applied::done())
        } else {
            Err(StepError::CommandFailed {
                command: shown_cmd,
                status: ExitStatus {
                    code: i32::try_from(outcome.exit_code).ok(),
                    signal: None,
                },
                stderr_tail: outcome
                    .stderr_tail
                    .iter()
                    .map(|l| ctx.masker.mask(l))
                    .collect(),
            })
        }
    }
}
