//! What a swarm service's tasks get besides their image: mounts (volumes,
//! binds, tmpfs) and swarm secrets as files. Networks are plain names on
//! [`SwarmService`](super::SwarmService).

use crate::error::DockerError;

/// What a [`SwarmMount`] mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A named (or anonymous) volume.
    Volume,
    /// A path on the node.
    Bind,
    /// A memory-backed directory.
    Tmpfs,
}

/// A mount of a service's tasks.
///
/// # Examples
///
/// ```
/// use deploy_docker::swarm::{MountKind, SwarmMount};
///
/// let m = SwarmMount::parse("/srv/media:/app/media:ro").unwrap();
/// assert_eq!((m.kind, m.source.as_deref(), m.target.as_str(), m.read_only),
///            (MountKind::Bind, Some("/srv/media"), "/app/media", true));
/// assert_eq!(SwarmMount::parse("pgdata:/var/lib/postgresql/data").unwrap().kind, MountKind::Volume);
/// assert!(SwarmMount::parse("data:relative").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmMount {
    /// Volume, bind or tmpfs.
    pub kind: MountKind,
    /// The volume's name or the node's path (none for tmpfs or an
    /// anonymous volume).
    pub source: Option<String>,
    /// Where in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl SwarmMount {
    /// Compose's short syntax: `SOURCE:TARGET[:ro|rw]` (a source starting
    /// with `/` or `.` is a bind, else a volume) or `TARGET` (an anonymous
    /// volume).
    pub fn parse(text: &str) -> Result<SwarmMount, DockerError> {
        let bad = |why: &str| {
            DockerError::Invalid(format!(
                "volume `{text}`: {why} (expected SOURCE:TARGET[:ro], e.g. \"data:/data\" or \"/srv/media:/media:ro\")"
            ))
        };
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [target] => (None, *target, None),
            [source, target] => (Some(*source), *target, None),
            [source, target, mode] => (Some(*source), *target, Some(*mode)),
            _ => return Err(bad("too many `:`")),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(other) => return Err(bad(&format!("the mode `{other}` is ro or rw"))),
        };
        let mount = SwarmMount {
            kind: match source {
                Some(s) if s.starts_with('/') || s.starts_with('.') => MountKind::Bind,
                _ => MountKind::Volume,
            },
            source: source.map(str::to_owned),
            target: target.to_owned(),
            read_only,
        };
        mount.check().map_err(|why| bad(&why))?;
        Ok(mount)
    }

    /// What the engine would refuse: a relative target, a bind without an
    /// absolute source, a tmpfs with one.
    pub fn check(&self) -> Result<(), String> {
        if !self.target.starts_with('/') {
            return Err(format!(
                "the target `{}` is not an absolute path",
                self.target
            ));
        }
        match (self.kind, self.source.as_deref()) {
            (MountKind::Bind, Some(source)) if source.starts_with('/') => Ok(()),
            (MountKind::Bind, _) => Err("a bind's source is an absolute path on the node".into()),
            (MountKind::Tmpfs, Some(_)) => Err("a tmpfs has no source".into()),
            (MountKind::Volume, Some("")) => Err("the volume name is empty".into()),
            _ => Ok(()),
        }
    }

    pub(super) fn to_api(&self) -> bollard::models::Mount {
        bollard::models::Mount {
            target: Some(self.target.clone()),
            source: self.source.clone(),
            typ: Some(match self.kind {
                MountKind::Volume => bollard::models::MountType::VOLUME,
                MountKind::Bind => bollard::models::MountType::BIND,
                MountKind::Tmpfs => bollard::models::MountType::TMPFS,
            }),
            read_only: self.read_only.then_some(true),
            ..Default::default()
        }
    }
}

impl std::fmt::Display for SwarmMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        };
        write!(f, "{kind} ")?;
        if let Some(source) = &self.source {
            write!(f, "{source} ")?;
        }
        write!(f, "→ {}", self.target)?;
        if self.read_only {
            write!(f, " (ro)")?;
        }
        Ok(())
    }
}

/// A swarm secret (made beforehand with `docker secret create`, found by
/// name) given to the tasks as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmSecret {
    /// The secret's name in the swarm.
    pub name: String,
    /// The file: a name under `/run/secrets/`, or an absolute path.
    pub target: String,
}

impl SwarmSecret {
    /// Secret `name` as `/run/secrets/NAME`.
    pub fn new(name: impl Into<String>) -> SwarmSecret {
        let name = name.into();
        SwarmSecret {
            target: name.clone(),
            name,
        }
    }

    /// Where the file appears in the container.
    pub fn path(&self) -> String {
        if self.target.starts_with('/') {
            self.target.clone()
        } else {
            format!("/run/secrets/{}", self.target)
        }
    }
}
