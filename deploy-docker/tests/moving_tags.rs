//! `docker.pull` of a tag that moves, against a real registry: the
//! registry's current digest for the tag decides, not whether the engine
//! has some image of that tag.
//!
//! Run: `cargo test -p deploy-docker --test moving_tags`.

use deploy_core::testing::TestContext;
use deploy_core::{LocalTarget, Step};
use deploy_docker::ImageRef;
use deploy_docker::steps::{PullImage, PushImage};
use deploy_docker::testing::{self, Registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_latest_after_it_moved_pulls_the_new_image() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let registry = Registry::start();
    let v1 = testing::app_image(&engine, "v1", true).await;
    let v2 = testing::app_image(&engine, "v2", true).await;
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let latest = format!(
        "{}/deploy-test/moving-{}:latest",
        registry.address,
        std::process::id()
    );
    let latest_ref = ImageRef::parse(&latest).expect("reference");
    let id = |image: String| {
        let engine = &engine;
        async move { engine.image_id(&image).await.expect("inspect") }
    };

    // v1 is pushed as :latest; a host without it pulls it, once.
    engine.tag(&v1, &latest_ref).await.expect("tag v1");
    PushImage::new(&latest).apply(&ctx).await.expect("push v1");
    engine.remove_image(&latest).await.expect("untag");
    let pull = PullImage::new(&latest);
    assert!(!pull.is_satisfied(&ctx).await.expect("check"), "missing");
    pull.apply(&ctx).await.expect("pull v1");
    assert!(
        pull.is_satisfied(&ctx).await.expect("check"),
        "the local :latest has the registry's digest"
    );
    assert_eq!(id(latest.clone()).await, id(v1.clone()).await);

    // A different image is pushed as :latest (from elsewhere: here the
    // local tag is put back on v1 afterwards, as on a host that pulled
    // before). The tag is present locally, but not with the registry's
    // digest: the pull is not "already done", and it gets v2.
    engine.tag(&v2, &latest_ref).await.expect("tag v2");
    PushImage::new(&latest).apply(&ctx).await.expect("push v2");
    engine.tag(&v1, &latest_ref).await.expect("back to v1");
    assert_eq!(id(latest.clone()).await, id(v1.clone()).await);
    assert!(
        !pull.is_satisfied(&ctx).await.expect("check"),
        "a moved tag is pulled again"
    );
    pull.apply(&ctx).await.expect("pull v2");
    assert_eq!(id(latest.clone()).await, id(v2.clone()).await);
    assert!(pull.is_satisfied(&ctx).await.expect("check"));

    // A tag the registry does not have is an error, not "already done".
    let missing = format!("{}/deploy-test/never-pushed:latest", registry.address);
    let missing_ref = ImageRef::parse(&missing).expect("reference");
    engine.tag(&v1, &missing_ref).await.expect("tag");
    let err = PullImage::new(&missing)
        .is_satisfied(&ctx)
        .await
        .expect_err("not in the registry");
    assert!(err.to_string().contains("never-pushed"), "{err}");
    engine.remove_image(&missing).await.expect("untag");
    engine.remove_image(&latest).await.expect("untag");
}
