//! Plans as stable text (for people, pull requests and insta snapshots) and
//! as JSON (for tools), with a schema version.
//!
//! Same plan, same bytes: nothing here reads the clock, the environment or a
//! hash map's order. Run-time values print as `{release}`, secrets as
//! `[REDACTED]`.

use std::fmt::Write as _;

use crate::plan::{FailurePolicy, Plan, PlannedStep, Rollout, Selector};
use crate::text::RUNTIME_VALUES;

/// The version of the JSON plan format; bumped on any breaking change.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, render};
///
/// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).build().unwrap();
/// let json: serde_json::Value = serde_json::from_str(&render::json(&plan)).unwrap();
/// assert_eq!(json["schema_version"], render::PLAN_SCHEMA_VERSION);
/// ```
pub const PLAN_SCHEMA_VERSION: u32 = 1;

fn selector_text(plan: &Plan, index: usize, step: &PlannedStep) -> String {
    let hosts: Vec<&str> = plan
        .hosts_for(index)
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    let base = match &step.on {
        Selector::All => "all hosts".to_owned(),
        Selector::Roles(roles) => format!("role {}", roles.join(", ")),
        Selector::Hosts(_) => "hosts".to_owned(),
        Selector::Local => return "the deploying machine".to_owned(),
    };
    if hosts.is_empty() {
        return match (&step.on, plan.limit()) {
            (Selector::Hosts(names), Some(_)) => {
                format!(
                    "hosts {}: none of them in this run (not run)",
                    names.join(", ")
                )
            }
            (_, Some(_)) => format!("{base}: no host in this run (not run)"),
            _ => format!("{base}: no host (not run)"),
        };
    }
    if step.once {
        format!("{base}, once: {}", hosts.join(", "))
    } else {
        format!("{base}: {}", hosts.join(", "))
    }
}

fn rollout_text(rollout: Rollout) -> String {
    match rollout {
        Rollout::AllAtOnce => "all hosts at once".to_owned(),
        Rollout::Batches(1) => "one host at a time".to_owned(),
        Rollout::Batches(n) => format!("batches of {n} hosts"),
    }
}

fn failure_text(policy: FailurePolicy) -> &'static str {
    match policy {
        FailurePolicy::Stop => "stop (no new steps start; running ones finish)",
        FailurePolicy::Continue => {
            "continue (the failing host stops; the other hosts, and later batches, go on)"
        }
        FailurePolicy::Rollback => "roll back completed steps on every host, newest first",
    }
}

/// Writes `name  value` with continuation lines of a multi-line value
/// indented under the value.
fn field(out: &mut String, indent: &str, name: &str, value: &str) {
    let pad = indent.len() + name.len() + 2;
    let mut lines = value.trim_end_matches('\n').split('\n');
    let first = lines.next().unwrap_or_default().trim_end();
    let _ = writeln!(out, "{indent}{name}: {first}");
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out);
        } else {
            let _ = writeln!(out, "{:pad$}{line}", "");
        }
    }
}

/// The plan as text.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, render, steps::Symlink};
///
/// let plan = Plan::builder("staging", "switch")
///     .host("web1", ["web"])
///     .step(PlannedStep::new(Symlink::new("current", "releases/${release}")))
///     .build()
///     .unwrap();
/// let text = render::text(&plan);
/// assert!(text.contains("point current at releases/{release}"));
/// assert_eq!(text, render::text(&plan));
/// ```
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plan: {} / {}", plan.environment(), plan.task());
    let hosts: Vec<String> = plan
        .hosts()
        .iter()
        .map(|h| {
            if h.roles.is_empty() {
                h.name.clone()
            } else {
                format!("{} [{}]", h.name, h.roles.join(", "))
            }
        })
        .collect();
    let _ = writeln!(out, "hosts ({}): {}", plan.hosts().len(), hosts.join(", "));
    if let Some(limit) = plan.limit() {
        let _ = writeln!(out, "limited to: {}", limit.describe());
    }
    if let Some(pinning) = plan.pinning() {
        pinning_text(&mut out, pinning);
    }
    let _ = writeln!(out, "rollout: {}", rollout_text(plan.rollout()));
    let _ = writeln!(out, "on failure: {}", failure_text(plan.on_failure()));
    if !plan.params().is_empty() {
        let params: Vec<String> = plan
            .params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "params: {}", params.join(" "));
    }
    let runtime: Vec<String> = RUNTIME_VALUES.iter().map(|v| format!("{{{v}}}")).collect();
    let _ = writeln!(out, "filled in at run time: {}", runtime.join(" "));
    let _ = writeln!(out, "steps ({}):", plan.steps().len());
    let dependencies = plan.dependencies();
    for (i, step) in plan.steps().iter().enumerate() {
        let description = step.step.describe();
        let _ = writeln!(
            out,
            "\n{:>3}. {} [{}] {}",
            i + 1,
            step.id,
            step.step.kind(),
            description.summary
        );
        let indent = "       ";
        field(&mut out, indent, "on", &selector_text(plan, i, step));
        let mut waits = Vec::new();
        if step.barrier {
            waits.push("every earlier step, on every host of the batch".to_owned());
        }
        let needed: Vec<&str> = dependencies[i]
            .iter()
            .map(|&d| plan.steps()[d].id.as_str())
            .collect();
        if !needed.is_empty() && !step.barrier {
            waits.push(format!("{}, wherever it runs", needed.join(", ")));
        }
        if !waits.is_empty() {
            field(&mut out, indent, "waits for", &waits.join("; "));
        }
        if let Some(condition) = &step.condition {
            field(
                &mut out,
                indent,
                "when",
                &format!(
                    "{} (asked once per host, when first reached; otherwise skipped there)",
                    condition.describe()
                ),
            );
        }
        for (name, value) in &description.fields {
            field(&mut out, indent, name, value);
        }
        if description.shows_output {
            field(&mut out, indent, "output", "shown, prefixed by host");
        }
        if let Some(timeout) = step.timeout {
            field(
                &mut out,
                indent,
                "timeout",
                &crate::duration::format(timeout),
            );
        }
        if step.retry.retries > 0 {
            field(
                &mut out,
                indent,
                "retries",
                &format!(
                    "{} (backoff {}, doubling)",
                    step.retry.retries,
                    crate::duration::format(step.retry.backoff)
                ),
            );
        }
        if step.allow_failure {
            field(
                &mut out,
                indent,
                "on failure",
                "allowed (reported, the host goes on)",
            );
        }
        if plan.on_failure() == FailurePolicy::Rollback {
            field(
                &mut out,
                indent,
                "undo",
                &step
                    .step
                    .undoable()
                    .map(|u| u.summary())
                    .unwrap_or_else(|| "cannot be undone".to_owned()),
            );
        } else if let Some(undo) = step.step.undoable().map(|u| u.summary()) {
            field(&mut out, indent, "undo", &undo);
        }
    }
    out
}

#[derive(serde::Serialize)]
struct JsonPlan<'a> {
    schema_version: u32,
    environment: &'a str,
    task: &'a str,
    hosts: &'a [crate::plan::Host],
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'a crate::plan::Limit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinning: Option<&'a crate::release::Pinning>,
    rollout: Rollout,
    on_failure: FailurePolicy,
    params: &'a std::collections::BTreeMap<String, String>,
    runtime_values: &'static [&'static str],
    steps: Vec<JsonStep<'a>>,
}

#[derive(serde::Serialize)]
struct JsonStep<'a> {
    id: &'a str,
    task: &'a str,
    kind: &'a str,
    summary: String,
    fields: Vec<JsonField>,
    on: &'a Selector,
    hosts: Vec<&'a str>,
    once: bool,
    barrier: bool,
    needs: &'a [String],
    timeout_ms: Option<u64>,
    retry: crate::plan::Retry,
    allow_failure: bool,
    when: Option<String>,
    undo: Option<String>,
}

#[derive(serde::Serialize)]
struct JsonField {
    name: String,
    value: String,
}

/// The header lines of a rollback's or a promotion's plan: what it puts
/// back, the images pinned, the steps left out.
fn pinning_text(out: &mut String, pinning: &crate::release::Pinning) {
    let revision = pinning
        .revision
        .as_ref()
        .map(|r| format!(", code {}", r.short()))
        .unwrap_or_default();
    let _ = match pinning.command.as_str() {
        "rollback" => writeln!(
            out,
            "rollback: puts back release {} of {}{revision} ({{release}} is {} again)",
            pinning.release, pinning.environment, pinning.release
        ),
        _ => writeln!(
            out,
            "promote: ships what release {} of {} runs{revision}",
            pinning.release, pinning.environment
        ),
    };
    if pinning.images.is_empty() {
        let _ = writeln!(out, "pinned: no images (the release started none)");
    }
    for image in &pinning.images {
        let _ = writeln!(
            out,
            "pinned: {} {} → {}",
            image.container,
            image.image,
            image.pinned()
        );
    }
    for step in &pinning.left_out {
        let _ = writeln!(out, "left out: {step}");
    }
}

/// The plan as pretty JSON (schema [`PLAN_SCHEMA_VERSION`]).
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, render, steps::Exec};
///
/// let plan = Plan::builder("staging", "uptime")
///     .host("web1", Vec::<String>::new())
///     .step(PlannedStep::new(Exec::argv(["uptime"])))
///     .build()
///     .unwrap();
/// let json: serde_json::Value = serde_json::from_str(&render::json(&plan)).unwrap();
/// assert_eq!(json["schema_version"], 1);
/// assert_eq!(json["steps"][0]["summary"], "$ uptime");
/// ```
pub fn json(plan: &Plan) -> String {
    let steps = plan
        .steps()
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let description = step.step.describe();
            JsonStep {
                id: &step.id,
                task: &step.task,
                kind: step.step.kind(),
                summary: description.summary,
                fields: description
                    .fields
                    .into_iter()
                    .map(|(name, value)| JsonField { name, value })
                    .collect(),
                on: &step.on,
                hosts: plan.hosts_for(i).iter().map(|h| h.name.as_str()).collect(),
                once: step.once,
                barrier: step.barrier,
                needs: &step.needs,
                timeout_ms: step.timeout.map(|t| t.as_millis() as u64),
                retry: step.retry,
                allow_failure: step.allow_failure,
                when: step.condition.as_ref().map(|c| c.describe()),
                undo: step.step.undoable().map(|u| u.summary()),
            }
        })
        .collect();
    let doc = JsonPlan {
        schema_version: PLAN_SCHEMA_VERSION,
        environment: plan.environment(),
        task: plan.task(),
        hosts: plan.hosts(),
        limit: plan.limit(),
        pinning: plan.pinning(),
        rollout: plan.rollout(),
        on_failure: plan.on_failure(),
        params: plan.params(),
        runtime_values: RUNTIME_VALUES,
        steps,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
