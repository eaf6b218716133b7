//! Test fixtures against the real engine (feature `testing`): the engine or a
//! loud skip, unique labelled names, test images built here (the registry
//! cannot be reached: nothing is pulled), and a private `docker-registry`,
//! nginx and Caddy (each a [`Server`]: stopped as it is meant to be, and
//! waited for, so a run leaves none of their processes behind).
//!
//! Images are built once per machine and reused by name; each carries the
//! digest of what it was built from, so a changed demo app rebuilds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use deploy_core::target::DiscardOutput;
use deploy_core::testing::server::{Server, Stop, log_file};

use crate::engine::Engine;
use crate::image::{BuildSpec, CONTEXT_LABEL};

/// The label every test object carries (its value: the test's name).
pub const TEST_LABEL: &str = "deploy.test";

/// The port the test app listens on inside its container.
pub const APP_PORT: u16 = 8080;

/// This machine's engine, negotiated; `None` (said loudly) when there is
/// none outside CI. Under `CI=true` a missing engine fails the test.
pub async fn engine() -> Option<Engine> {
    let connected = match Engine::local() {
        Ok(engine) => engine.negotiate().await,
        Err(e) => Err(e),
    };
    match connected {
        Ok(engine) => Some(engine),
        Err(e) => {
            let message = format!("deploy-docker: no Docker engine here: {e}");
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("SKIPPED (no engine), {message}");
            None
        }
    }
}

/// A name no other test (or run) uses: `deploy-test-<what>-<pid>-<n>`.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "deploy-test-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes every container and network labelled for test `test`.
pub async fn clean_up(engine: &Engine, test: &str) {
    if let Ok(containers) = engine.list(&[(TEST_LABEL, test)]).await {
        for container in containers {
            let _ = engine.remove(&container.name).await;
        }
    }
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("{TEST_LABEL}={test}")],
    )]);
    let options = bollard::query_parameters::ListNetworksOptions {
        filters: Some(filters),
    };
    if let Ok(networks) = engine.api().list_networks(Some(options)).await {
        for network in networks.into_iter().filter_map(|n| n.name) {
            let _ = engine.remove_network(&network).await;
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Builds the demo app as a static binary (once per machine, cargo's own
/// cache after that) and returns its path.
fn static_app() -> PathBuf {
    static BUILT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let target_dir = workspace().join("target").join("test-images");
    let triple = "x86_64-unknown-linux-gnu";
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "demo-app",
            "--target",
            triple,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the static demo app failed");
    let path = target_dir.join(triple).join("release").join("demo-app");
    *built = Some(path.clone());
    path
}

/// Builds (unless already built from the same input) a tagged image from a
/// context written by `write`; returns the tag.
async fn ensure_image(engine: &Engine, tag: &str, write: impl FnOnce(&Path)) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path());
    let spec = BuildSpec::new(dir.path(), tag);
    let want = spec.digest().expect("context packs");
    let have = engine.image_labels(tag).await.expect("inspect image");
    if have.is_some_and(|labels| labels.get(CONTEXT_LABEL) == Some(&want)) {
        return tag.to_owned();
    }
    engine
        .build(&spec, &DiscardOutput)
        .await
        .unwrap_or_else(|e| panic!("building test image {tag}: {e}"));
    tag.to_owned()
}

/// `deploy-test-app:<version>`: the static demo app alone in an empty image,
/// answering its version on [`APP_PORT`], with a Docker health check. With
/// `healthy = false` the app starts failing its health endpoint.
pub async fn app_image(engine: &Engine, version: &str, healthy: bool) -> String {
    let binary = static_app();
    let tag = format!(
        "deploy-test-app:{version}{}",
        if healthy { "" } else { "-unhealthy" }
    );
    ensure_image(engine, &tag, |dir| {
        std::fs::copy(&binary, dir.join("app")).expect("copy app");
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM scratch\nCOPY app /app\nENV VERSION={version}\nENV DEMO_UNHEALTHY={}\n\
                 EXPOSE {APP_PORT}\n\
                 HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/app\", \"--check\", \"--port\", \"{APP_PORT}\"]\n\
                 ENTRYPOINT [\"/app\", \"--bind\", \"0.0.0.0\", \"--port\", \"{APP_PORT}\"]\n",
                u8::from(!healthy)
            ),
        )
        .expect("Dockerfile");
    })
    .await
}

/// `deploy-test-busybox:1`: Debian's static busybox with its applets linked.
pub async fn busybox_image(engine: &Engine) -> String {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "no /bin/busybox: run scripts/install-peers (it installs busybox-static)"
    );
    ensure_image(engine, "deploy-test-busybox:1", |dir| {
        let bin = dir.join("rootfs").join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
        for applet in [
            "sh", "echo", "cat", "sleep", "ls", "env", "printf", "wget", "nc", "httpd", "true",
            "false", "test", "mkdir", "rm",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink");
        }
        std::fs::write(
            dir.join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n",
        )
        .expect("Dockerfile");
    })
    .await
}

/// The PostgreSQL this machine has (Debian's `postgresql`), as
/// `scripts/install-peers` installs it.
const POSTGRES: &str = "/usr/lib/postgresql/15";

/// `deploy-test-postgres:15`: this machine's PostgreSQL 15 in an image of
/// its own (no registry can be reached to pull one): its programs, the
/// libraries `ldd` says they load, its share files, busybox's `sh`. The
/// container runs as uid 70, makes a cluster on first start (user `app`,
/// trust on its socket in `/tmp`) and serves it on that socket only.
pub async fn postgres_image(engine: &Engine) -> String {
    let bin = Path::new(POSTGRES).join("bin");
    assert!(
        bin.join("postgres").exists(),
        "no {POSTGRES}: run scripts/install-peers (it installs postgresql)"
    );
    ensure_image(engine, "deploy-test-postgres:15", |dir| {
        let root = dir.join("rootfs");
        let copy = |from: &Path| {
            let to = root.join(from.strip_prefix("/").unwrap_or(from));
            std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
            std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        };
        let mut loaded = std::collections::BTreeSet::new();
        let mut programs: Vec<PathBuf> = ["postgres", "initdb", "pg_ctl", "pg_dump", "pg_restore", "psql", "pg_isready"]
            .iter()
            .map(|p| bin.join(p))
            .collect();
        // Its modules, but not the JIT (it would bring LLVM; without it the
        // server simply does not compile queries).
        let lib = Path::new(POSTGRES).join("lib");
        for entry in std::fs::read_dir(&lib).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".so") && !name.starts_with("llvmjit") {
                programs.push(path);
            }
        }
        for program in &programs {
            copy(program);
            let out = Command::new("ldd").arg(program).output().expect("ldd runs");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let path = match line.split_once("=>") {
                    Some((_, rest)) => rest.split_whitespace().next(),
                    None => line.split_whitespace().next(),
                };
                if let Some(path) = path.filter(|p| p.starts_with('/')) {
                    loaded.insert(PathBuf::from(path));
                }
            }
        }
        for library in &loaded {
            copy(library);
        }
        for file in walk(Path::new("/usr/share/postgresql/15")) {
            copy(&file);
        }
        for zone in ["/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Etc/UTC"] {
            copy(Path::new(zone));
        }
        let sbin = root.join("bin");
        std::fs::create_dir_all(&sbin).expect("mkdir");
        std::fs::copy("/bin/busybox", sbin.join("busybox")).expect("busybox");
        for applet in ["sh", "cat", "ls", "mkdir", "sleep", "env", "rm"] {
            std::os::unix::fs::symlink("busybox", sbin.join(applet)).expect("symlink");
        }
        let etc = root.join("etc");
        std::fs::create_dir_all(&etc).expect("mkdir");
        std::fs::write(etc.join("passwd"), "root:x:0:0::/root:/bin/sh\npostgres:x:70:70::/tmp:/bin/sh\n").expect("passwd");
        std::fs::write(etc.join("group"), "root:x:0:\npostgres:x:70:\n").expect("group");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir");
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).expect("chmod");
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM scratch\nCOPY rootfs/ /\nUSER 70\nENV PATH={POSTGRES}/bin:/bin LANG=C TZ=UTC PGHOST=/tmp PGUSER=app\n\
                 CMD [\"/bin/sh\", \"-c\", \"initdb -U app --auth=trust -E UTF8 --locale=C -D /tmp/data > /tmp/initdb.log 2>&1 && exec postgres -D /tmp/data -k /tmp -c listen_addresses=\"]\n"
            ),
        )
        .expect("Dockerfile");
    })
    .await
}

/// The Debian base's tag (see [`debian_image`]).
pub const DEBIAN: &str = "deploy-test-debian:bookworm-2";

/// `deploy-test-debian:bookworm-2`: a Debian base the fleet's hosts run
/// and the seed examples' service images start from (debootstrap's minbase
/// with openssh-server, sudo, supervisor, python3 and psycopg2, procps,
/// iproute2, PostgreSQL 15, nginx, Caddy, Redis), made once per machine
/// (about 50 s and 780 MB here) and reused by its tag; bump the tag when
/// the package list changes.
pub async fn debian_image(engine: &Engine) -> String {
    const TAG: &str = DEBIAN;
    if engine.image_id(TAG).await.expect("inspect image").is_some() {
        return TAG.to_owned();
    }
    assert!(
        Path::new("/usr/sbin/debootstrap").exists(),
        "no debootstrap: run scripts/install-peers (it installs debootstrap)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    let status = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=openssh-server,sudo,supervisor,python3,python3-psycopg2,procps,iproute2,postgresql,nginx-light,caddy,redis-server",
            "bookworm",
        ])
        .arg(&root)
        .arg(debian_mirror())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("debootstrap runs");
    assert!(
        status.success(),
        "debootstrap of the fleet's Debian base failed"
    );
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("mkdir");
    let packed = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(context.join("rootfs.tar"))
        .args(["--exclude=./var/cache/apt/archives/*.deb", "."])
        .status()
        .expect("tar runs");
    assert!(packed.success(), "packing the Debian base failed");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nADD rootfs.tar /\nCMD [\"/bin/bash\"]\n",
    )
    .expect("Dockerfile");
    engine
        .build(&BuildSpec::new(&context, TAG), &DiscardOutput)
        .await
        .unwrap_or_else(|e| panic!("building {TAG}: {e}"));
    TAG.to_owned()
}

/// `deploy-test-postgres-server:15`: PostgreSQL 15 from the Debian base
/// as the official `postgres` image runs it: a cluster made on first start
/// in `/var/lib/postgresql/data` (a volume keeps it), `POSTGRES_USER`'s
/// role and `POSTGRES_DB` (default `app`) created, served on port 5432 to
/// the container's network (trust: test networks only), its socket in
/// `/tmp` (`PGHOST`).
pub async fn postgres_server_image(engine: &Engine) -> String {
    const START: &str = r#"#!/bin/sh
# Makes the cluster on first start (as the official image does), then serves it.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -U postgres --auth=trust -E UTF8 --locale=C -D "$PGDATA" >/dev/null
    echo 'host all all all trust' >> "$PGDATA/pg_hba.conf"
    postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE ROLE "$POSTGRES_USER" LOGIN SUPERUSER;
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /tmp
"#;
    debian_derived(
        engine,
        "deploy-test-postgres-server:15",
        "ENV PGDATA=/var/lib/postgresql/data POSTGRES_USER=app POSTGRES_DB=app PGHOST=/tmp \
         PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         RUN mkdir -p /var/lib/postgresql/data && chown postgres: /var/lib/postgresql/data\n\
         COPY start /usr/local/bin/start\n\
         USER postgres\n\
         CMD [\"/usr/local/bin/start\"]\n",
        &[("start", START)],
    )
    .await
}

/// `deploy-test-nginx:1.22`: Debian's nginx in the foreground, serving
/// only what `/etc/nginx/conf.d/*.conf` says (a compose file mounts it).
pub async fn nginx_image(engine: &Engine) -> String {
    debian_derived(
        engine,
        "deploy-test-nginx:1.22",
        "RUN rm -f /etc/nginx/sites-enabled/default\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
        &[],
    )
    .await
}

/// `deploy-test-redis:7`: Debian's Redis in the foreground.
pub async fn redis_image(engine: &Engine) -> String {
    debian_derived(
        engine,
        "deploy-test-redis:7",
        "CMD [\"redis-server\"]\n",
        &[],
    )
    .await
}

/// An image `FROM` the Debian base with `lines` after it and `files` (name,
/// text; executable) in its context, built unless built from the same.
async fn debian_derived(engine: &Engine, tag: &str, lines: &str, files: &[(&str, &str)]) -> String {
    let base = debian_image(engine).await;
    ensure_image(engine, tag, |dir| {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("a context file");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
        }
        std::fs::write(dir.join("Dockerfile"), format!("FROM {base}\n{lines}"))
            .expect("Dockerfile");
    })
    .await
}

/// Removes what a compose project made on the engine: its containers, its
/// named volumes (`PROJECT_NAME`) and its networks (a test's clean-up of
/// what a deploy it ran brought up).
pub async fn remove_project(engine: &Engine, project: &str) {
    if let Ok(containers) = engine
        .list(&[(crate::compose::PROJECT_LABEL, project)])
        .await
    {
        for container in containers {
            let _ = engine.remove(&container.name).await;
        }
    }
    if let Ok(volumes) = engine
        .api()
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
    {
        for volume in volumes.volumes.unwrap_or_default() {
            if volume.name.starts_with(&format!("{project}_")) {
                let _ = engine
                    .api()
                    .remove_volume(
                        &volume.name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await;
            }
        }
    }
    if let Ok(networks) = engine
        .api()
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
    {
        for network in networks.into_iter().filter_map(|n| n.name) {
            if network.starts_with(&format!("{project}_")) {
                let _ = engine.remove_network(&network).await;
            }
        }
    }
}

/// Removes a named volume (a test's clean-up); a missing one is fine.
pub async fn remove_volume(engine: &Engine, name: &str) {
    let _ = engine
        .api()
        .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
        .await;
}

/// Pushes `image` to a registry as `reference` (`127.0.0.1:PORT/repo:tag`)
/// and drops that local name, as a CI job ships an image: a host gets it
/// only by pulling it.
pub async fn publish(engine: &Engine, image: &str, reference: &str) {
    let target = crate::ImageRef::parse(reference).expect("an image reference");
    engine.tag(image, &target).await.expect("tag");
    engine
        .push(&target, &crate::Credentials::default(), &DiscardOutput)
        .await
        .unwrap_or_else(|e| panic!("pushing {reference}: {e}"));
    engine.remove_image(reference).await.expect("untag");
}

/// Hosts that are separate machines to `deploy`: containers of
/// [`debian_image`] on a private network, each running its own sshd
/// (root logs in with the key given), each with its own address,
/// filesystem and host key. Their faults are real: [`Fleet::kill`],
/// [`Fleet::cut`] (off the network), [`Fleet::restart_sshd`] (every sshd
/// process killed; a new one listens 0.2 s later, as a service manager
/// would start it). Stopped with [`Fleet::stop`] (or the test's
/// [`clean_up`]).
pub struct Fleet {
    /// The hosts, in the order they were started.
    pub hosts: Vec<FleetHost>,
    /// The private network.
    pub network: String,
    test: String,
}

/// One host of a [`Fleet`].
pub struct FleetHost {
    /// Its container's name on the engine.
    pub container: String,
    /// Its address on the fleet's network (where its sshd listens, port 22).
    pub address: String,
    /// Its ed25519 host key, OpenSSH's `type base64` form.
    pub host_key: String,
}

/// How a [`Fleet`]'s hosts are set up, beyond root's key.
#[derive(Default, Clone)]
pub struct FleetOptions {
    /// Mount this machine's Docker socket at `/var/run/docker.sock`, so
    /// `docker.*` steps reach an engine through the host's SSH connection
    /// as on a real server (the containers they start are this machine's;
    /// hosts sharing it must not use the same container names).
    pub docker_socket: bool,
    /// Binds every host gets (`source:target[:ro]`): a program of this
    /// machine (the `deploy` binary, read-only), or a directory mounted at
    /// its own path, where the engine behind the socket sees the files a
    /// compose file on the host binds.
    pub volumes: Vec<String>,
    /// A root shell script run on each host before its sshd starts (users,
    /// sudo rules, packages' config), again each time the host starts (so
    /// it must be idempotent); `$AUTHORIZED_KEY` holds the key.
    pub setup: String,
}

impl Fleet {
    /// Starts `n` hosts for test `test`, root's authorized key `key`
    /// (OpenSSH's one-line form); returns once each sshd answers.
    pub async fn start(engine: &Engine, test: &str, n: usize, key: &str) -> Fleet {
        Fleet::start_with(engine, test, n, key, &FleetOptions::default()).await
    }

    /// [`Fleet::start`] with `options`.
    pub async fn start_with(
        engine: &Engine,
        test: &str,
        n: usize,
        key: &str,
        options: &FleetOptions,
    ) -> Fleet {
        let image = debian_image(engine).await;
        let network = unique("fleet");
        engine
            .ensure_network(&network, "bridge")
            .await
            .expect("the fleet's network");
        let boot = format!(
            "set -e; mkdir -p /run/sshd /root/.ssh; printf '%s\\n' \"$AUTHORIZED_KEY\" > /root/.ssh/authorized_keys; \
             chmod 700 /root/.ssh; chmod 600 /root/.ssh/authorized_keys; ssh-keygen -A >/dev/null; \
             {setup}\n\
             while :; do /usr/sbin/sshd -D -e -o PermitRootLogin=prohibit-password -o UsePAM=no; sleep 0.2; done",
            setup = options.setup
        );
        let mut hosts = Vec::new();
        for i in 1..=n {
            let name = format!("{network}-host{i}");
            let mut spec = crate::ContainerSpec::new(name.clone(), image.clone());
            spec.labels.insert(TEST_LABEL.to_owned(), test.to_owned());
            spec.networks = vec![network.clone()];
            spec.env.insert("AUTHORIZED_KEY".to_owned(), key.to_owned());
            spec.volumes.extend(options.volumes.iter().cloned());
            if options.docker_socket {
                spec.volumes
                    .push("/var/run/docker.sock:/var/run/docker.sock".to_owned());
            }
            spec.command = Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), boot.clone()]);
            engine.run(&spec).await.expect("a fleet host starts");
            let address = address_on(engine, &name, &network).await;
            hosts.push(FleetHost {
                container: name,
                address,
                host_key: String::new(),
            });
        }
        let mut fleet = Fleet {
            hosts,
            network,
            test: test.to_owned(),
        };
        for i in 0..n {
            fleet.wait_for_sshd(i).await;
            let public = fleet
                .sh(engine, i, "cat /etc/ssh/ssh_host_ed25519_key.pub")
                .await;
            fleet.hosts[i].host_key = public
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
        }
        fleet
    }

    async fn wait_for_sshd(&self, i: usize) {
        let host = &self.hosts[i];
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect((host.address.as_str(), 22)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{}'s sshd never listened",
                host.container
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills host `i` (`docker kill`): its processes end at once, its
    /// connections with them.
    pub async fn kill(&self, engine: &Engine, i: usize) {
        engine
            .api()
            .kill_container(&self.hosts[i].container, None)
            .await
            .expect("kill a fleet host");
    }

    /// Starts a killed host `i` again (the same filesystem) and waits for
    /// its sshd; true when its address changed.
    pub async fn start_again(&mut self, engine: &Engine, i: usize) -> bool {
        engine
            .start(&self.hosts[i].container)
            .await
            .expect("start a fleet host again");
        self.settle(engine, i).await
    }

    /// Takes host `i` off the network (`docker network disconnect`): its
    /// peers' packets go nowhere, nothing is closed.
    pub async fn cut(&self, engine: &Engine, i: usize) {
        let request = bollard::models::NetworkDisconnectRequest {
            container: self.hosts[i].container.clone(),
            force: Some(true),
        };
        engine
            .api()
            .disconnect_network(&self.network, request)
            .await
            .expect("disconnect a fleet host");
    }

    /// Puts host `i` back on the network; true when its address changed.
    pub async fn reconnect(&mut self, engine: &Engine, i: usize) -> bool {
        let request = bollard::models::NetworkConnectRequest {
            container: self.hosts[i].container.clone(),
            endpoint_config: None,
        };
        engine
            .api()
            .connect_network(&self.network, request)
            .await
            .expect("reconnect a fleet host");
        self.settle(engine, i).await
    }

    /// Kills every sshd process on host `i`, the sessions' too (a restart
    /// that does not spare open connections); a new sshd listens soon after.
    pub async fn restart_sshd(&self, engine: &Engine, i: usize) {
        self.sh(engine, i, "pkill sshd; true").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.wait_for_sshd(i).await;
    }

    /// Reads host `i`'s address again and waits for its sshd; true when
    /// the address changed.
    async fn settle(&mut self, engine: &Engine, i: usize) -> bool {
        let address = address_on(engine, &self.hosts[i].container, &self.network).await;
        let changed = address != self.hosts[i].address;
        self.hosts[i].address = address;
        self.wait_for_sshd(i).await;
        changed
    }

    /// A `known_hosts` file vouching for every host's key at its address,
    /// as a real server's admin hands it out (so strict checking holds).
    pub fn known_hosts(&self) -> String {
        self.hosts
            .iter()
            .map(|host| format!("{} {}\n", host.address, host.host_key))
            .collect()
    }

    /// An `~/.ssh/config` naming host `i` `names[i]` (its `HostName` the
    /// address), logging in as `user` with `identity` and checking keys
    /// against `known_hosts`: a config's host names work unchanged. Keepalives
    /// every second (`ServerAliveInterval 1`) notice a host gone silent in
    /// seconds.
    pub fn ssh_config(
        &self,
        names: &[&str],
        user: &str,
        identity: &Path,
        known_hosts: &Path,
    ) -> String {
        names
            .iter()
            .zip(&self.hosts)
            .map(|(name, host)| {
                format!(
                    "Host {name}\n  HostName {}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  ServerAliveInterval 1\n\n",
                    host.address,
                    identity.display(),
                    known_hosts.display()
                )
            })
            .collect()
    }

    /// Runs a root shell script on host `i` (from outside, through the
    /// engine: not through `deploy`) and returns its stdout; panics with
    /// its stderr when it fails.
    pub async fn sh(&self, engine: &Engine, i: usize, script: &str) -> String {
        sh(engine, &self.hosts[i].container, script).await
    }

    /// Removes the hosts and their network.
    pub async fn stop(self, engine: &Engine) {
        clean_up(engine, &self.test).await;
        let _ = engine.remove_network(&self.network).await;
    }
}

/// `container`'s address on `network`, as the engine says now.
async fn address_on(engine: &Engine, container: &str, network: &str) -> String {
    engine
        .inspect(container)
        .await
        .expect("inspect")
        .expect("there")
        .addresses
        .get(network)
        .cloned()
        .expect("an address on the fleet's network")
}

/// Runs `sh -c script` in `container` as its default user; its stdout, or
/// a panic with its stderr when it exits non-zero.
pub async fn sh(engine: &Engine, container: &str, script: &str) -> String {
    let run = engine
        .exec_bytes(
            container,
            &["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()],
            &Default::default(),
            None,
            &DiscardOutput,
        )
        .await
        .unwrap_or_else(|e| panic!("exec in {container}: {e}"));
    assert_eq!(
        run.exit_code,
        0,
        "`{script}` in {container} failed: {}",
        run.stderr_tail.join("\n")
    );
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The Debian mirror apt uses on this machine (debootstrap's source).
fn debian_mirror() -> String {
    let sources = [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ];
    for file in sources {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let uri = line
                .strip_prefix("URIs:")
                .or_else(|| {
                    line.strip_prefix("deb ")
                        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
                })
                .map(str::trim);
            if let Some(uri) = uri.filter(|u| u.contains("debian") && !u.contains("security")) {
                return uri.split_whitespace().next().unwrap_or(uri).to_owned();
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

/// Every file under `dir` (not following links to directories).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A private registry (Debian's `docker-registry`) on a free loopback port,
/// storing in a temp dir, stopped (SIGTERM, waited for) on drop. The engine
/// trusts loopback registries without TLS.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub address: String,
    // Declared first: stopped before its directory goes.
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one (fails loudly when the package is missing).
    pub fn start() -> Registry {
        let binary = Path::new("/usr/bin/docker-registry");
        assert!(
            binary.exists(),
            "no /usr/bin/docker-registry: run scripts/install-peers"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let server = Server::spawn(
            "docker-registry",
            Command::new(binary)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            Stop::Term,
        )
        .expect("docker-registry starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            address: format!("127.0.0.1:{port}"),
            _server: server,
            _dir: dir,
        }
    }
}

/// A private nginx (Debian's) on a free loopback port, proxying to the
/// upstream `app` kept in its own file; on drop it quits gracefully
/// (SIGQUIT to the master, which stops its workers) and is waited for.
pub struct Nginx {
    // Declared first: stopped before its directory goes.
    _server: Server,
    /// Its directory (config, upstream file, logs).
    pub dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Nginx {
    /// Starts one whose upstream has no live server yet.
    pub fn start() -> Nginx {
        assert!(
            Path::new("/usr/sbin/nginx").exists(),
            "no /usr/sbin/nginx: run scripts/install-peers"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("upstream.conf"),
            "upstream app {\n    server 127.0.0.1:9 down;\n}\n",
        )
        .expect("upstream");
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                 include {d}/upstream.conf;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://app;\n\
                 proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
                 proxy_next_upstream error timeout;\n    }}\n  }}\n}}\n"
            ),
        )
        .expect("nginx.conf");
        let server = Server::spawn(
            "nginx",
            Command::new("/usr/sbin/nginx")
                .args(Nginx::command_args(dir.path()))
                .args(["-g", "daemon off;"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            Stop::Quit,
        )
        .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            _server: server,
            dir,
            port,
        }
    }

    fn command_args(dir: &Path) -> Vec<String> {
        vec![
            "-p".to_owned(),
            dir.display().to_string(),
            "-c".to_owned(),
            dir.join("nginx.conf").display().to_string(),
        ]
    }

    /// The nginx command (for a proxy setting): `-t` and `-s reload` follow.
    pub fn command(&self) -> Vec<String> {
        let mut argv = vec!["/usr/sbin/nginx".to_owned()];
        argv.extend(Nginx::command_args(self.dir.path()));
        argv
    }

    /// The upstream file.
    pub fn upstream_file(&self) -> PathBuf {
        self.dir.path().join("upstream.conf")
    }
}

/// A private Caddy (Debian's) on a free loopback port with its admin API on
/// another, reverse-proxying through a handler tagged `@id` `app`; stopped
/// (SIGTERM, its graceful stop, waited for) on drop.
pub struct Caddy {
    // Declared first: stopped before its directory goes.
    _server: Server,
    /// Its directory.
    pub dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its admin API (`127.0.0.1:PORT`).
    pub admin: String,
}

impl Caddy {
    /// Starts one whose upstream has no server yet.
    pub fn start() -> Caddy {
        assert!(
            Path::new("/usr/bin/caddy").exists(),
            "no /usr/bin/caddy: run scripts/install-peers"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("free port")
        };
        let (port, admin_port) = (free(), free());
        let admin = format!("127.0.0.1:{admin_port}");
        let config = serde_json::json!({
            "admin": { "listen": admin },
            "apps": { "http": { "servers": { "srv0": {
                "listen": [format!("127.0.0.1:{port}")],
                "routes": [{ "handle": [{
                    "@id": "app",
                    "handler": "reverse_proxy",
                    "upstreams": [{ "dial": "127.0.0.1:9" }]
                }]}]
            }}}}
        });
        let path = dir.path().join("caddy.json");
        std::fs::write(&path, config.to_string()).expect("caddy.json");
        let server = Server::spawn(
            "caddy",
            Command::new("/usr/bin/caddy")
                .arg("run")
                .arg("--config")
                .arg(&path)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path())
                .stdout(Stdio::null())
                .stderr(log_file(&dir.path().join("caddy.log"))),
            Stop::Term,
        )
        .expect("caddy starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", admin_port)).is_err()
        {
            assert!(Instant::now() < deadline, "caddy did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Caddy {
            _server: server,
            dir,
            port,
            admin,
        }
    }
}

/// What load through a proxy saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Requests answered 200.
    pub ok: usize,
    /// Requests that failed (connection errors and non-200 answers).
    pub failed: usize,
    /// Per client, the versions seen, each run of one version once.
    pub versions: Vec<Vec<String>>,
    /// The first few failures, described.
    pub errors: Vec<String>,
    /// The longest time one client went without a successful answer.
    pub longest_gap: Duration,
}

/// Sends requests to `127.0.0.1:port/` from `clients` concurrent clients
/// until `stop` is set: each request on a new connection (`keep_alive =
/// false`) or all on one kept-alive connection per client (reopened only
/// when the server closed it between requests); no request is retried.
pub async fn load(
    port: u16,
    clients: usize,
    keep_alive: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> LoadReport {
    load_at("127.0.0.1", port, clients, keep_alive, stop).await
}

/// [`load`] on `address:port` (a fleet host's proxy, from outside).
pub async fn load_at(
    address: &str,
    port: u16,
    clients: usize,
    keep_alive: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> LoadReport {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            let address = address.to_owned();
            tokio::spawn(async move { client(&address, port, keep_alive, &stop).await })
        })
        .collect();
    let mut report = LoadReport::default();
    for task in tasks {
        if let Ok((ok, failed, versions, errors, gap)) = task.await {
            report.longest_gap = report.longest_gap.max(gap);
            report.ok += ok;
            report.failed += failed;
            report.versions.push(versions);
            report.errors.extend(errors.into_iter().take(5));
        }
    }
    report
}

async fn client(
    address: &str,
    port: u16,
    keep_alive: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> (usize, usize, Vec<String>, Vec<String>, Duration) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let (mut ok, mut failed, mut versions) = (0, 0, Vec::<String>::new());
    let mut errors = Vec::new();
    let started = Instant::now();
    let (mut last_ok, mut longest_gap) = (Instant::now(), Duration::ZERO);
    let mut connection: Option<BufReader<tokio::net::TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        if connection.is_none() {
            match tokio::net::TcpStream::connect((address, port)).await {
                Ok(stream) => connection = Some(BufReader::new(stream)),
                Err(e) => {
                    failed += 1;
                    errors.push(format!(
                        "{:.3}s connect: {e}",
                        started.elapsed().as_secs_f64()
                    ));
                    continue;
                }
            }
        }
        let Some(stream) = connection.as_mut() else {
            continue;
        };
        let close = if keep_alive { "keep-alive" } else { "close" };
        let request = format!("GET / HTTP/1.1\r\nHost: app\r\nConnection: {close}\r\n\r\n");
        let exchange = async {
            stream.get_mut().write_all(request.as_bytes()).await?;
            let mut status = String::new();
            stream.read_line(&mut status).await?;
            let mut length = 0usize;
            let mut server_closes = false;
            loop {
                let mut header = String::new();
                stream.read_line(&mut header).await?;
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let lower = header.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower == "connection: close" {
                    server_closes = true;
                }
            }
            let mut body = vec![0u8; length];
            stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>((
                status,
                String::from_utf8_lossy(&body).into_owned(),
                server_closes,
            ))
        };
        match tokio::time::timeout(Duration::from_secs(10), exchange).await {
            Ok(Ok((status, body, server_closes))) if status.contains(" 200 ") => {
                ok += 1;
                longest_gap = longest_gap.max(last_ok.elapsed());
                last_ok = Instant::now();
                // "demo-app version v2 (release …)"
                let version = body
                    .split_whitespace()
                    .skip_while(|w| *w != "version")
                    .nth(1)
                    .unwrap_or("?")
                    .to_owned();
                if versions.last() != Some(&version) {
                    versions.push(version);
                }
                if !keep_alive || server_closes {
                    connection = None;
                }
            }
            outcome => {
                failed += 1;
                connection = None;
                let what = match outcome {
                    Ok(Ok((status, body, _))) => format!("{} {}", status.trim(), body.trim()),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "no answer in 10 s".to_owned(),
                };
                errors.push(format!("{:.3}s {what}", started.elapsed().as_secs_f64()));
            }
        }
    }
    (ok, failed, versions, errors, longest_gap)
}

/// Waits (up to 30 s) until `127.0.0.1:port/` answers 200; true if it did.
pub async fn load_once(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if stream
                .write_all(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
                .await
                .is_ok()
            {
                let mut text = String::new();
                if stream.read_to_string(&mut text).await.is_ok() && text.contains(" 200 ") {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The body `GET path` on `127.0.0.1:port` answers, retrying for up to 5 s
/// while the server starts.
pub async fn get(port: u16, path: &str) -> String {
    get_at("127.0.0.1", port, path).await
}

/// [`get`] on `address:port` (a fleet host's app, from outside).
pub async fn get_at(address: &str, port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..50 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect((address, port)).await {
            let request = format!("GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).await.is_ok() {
                let mut response = String::new();
                if stream.read_to_string(&mut response).await.is_ok() && !response.is_empty() {
                    return response
                        .split_once("\r\n\r\n")
                        .map(|(_, body)| body.to_owned())
                        .unwrap_or(response);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing answered on {address}:{port}");
}
