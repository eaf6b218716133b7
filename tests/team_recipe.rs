//! Pin every plan of a `deploy.toml` with insta, the way a team does in its
//! own CI (docs/snapshot-testing.md shows this file as the recipe).

use deploy_core::{Config, StepRegistry, render};

/// Every environment × task of deploy.toml renders to its pinned text.
#[test]
fn every_plan_is_pinned() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy.toml");
    let config = Config::load(path.as_ref())
        .expect("deploy.toml loads")
        // Plans mention ${config_dir}; fix it so snapshots match on every machine.
        .with_config_dir("[repo]");
    // Register the same step kinds your deploy binary does (e.g. deploy-docker's).
    let registry = StepRegistry::with_builtins();
    for environment in config.environments() {
        for task in config.tasks() {
            let plan = config
                .plan(Some(environment), Some(&task.name), &[], &registry)
                .unwrap_or_else(|e| panic!("{}", e.with_snippet()));
            insta::assert_snapshot!(format!("{environment}__{}", task.name), render::text(&plan));
        }
    }
}
