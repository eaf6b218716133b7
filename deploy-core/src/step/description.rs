//! [`Description`]: how a step shows itself in a rendered plan.

use std::fmt;

/// How a step describes itself in a rendered plan: a summary line and named
/// fields, in a fixed order. Same step, same bytes.
///
/// # Examples
///
/// ```
/// use deploy_core::Description;
///
/// let d = Description::new("set VERSION in .env").field("file", ".env");
/// assert_eq!(d.summary, "set VERSION in .env");
/// assert_eq!(d.fields, vec![("file".to_string(), ".env".to_string())]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Description {
    /// One line saying what the step does.
    pub summary: String,
    /// Named details, in the order the step gives them.
    pub fields: Vec<(String, String)>,
    /// Showing its output is the step's purpose (`docker.ps`, `docker.logs`,
    /// `exec` with `output = true`): a run prints its stdout without `-v`.
    pub shows_output: bool,
}

impl Description {
    /// A description with a summary and no fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let d = Description::new("restart nginx");
    /// assert_eq!(d.summary, "restart nginx");
    /// assert!(d.fields.is_empty());
    /// ```
    pub fn new(summary: impl Into<String>) -> Self {
        Description {
            summary: summary.into(),
            fields: Vec::new(),
            shows_output: false,
        }
    }

    /// Marks a step whose purpose is to show its output: a run prints its
    /// stdout by default, prefixed by host, and the plan says so.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let d = Description::new("$ supervisorctl status").shows_output();
    /// assert!(d.shows_output);
    /// assert!(!Description::new("restart nginx").shows_output);
    /// ```
    pub fn shows_output(mut self) -> Self {
        self.shows_output = true;
        self
    }

    /// Adds a field.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let d = Description::new("write /etc/motd").field("mode", "0644").field("size", 42);
    /// assert_eq!(d.fields[1], ("size".to_string(), "42".to_string()));
    /// ```
    pub fn field(mut self, name: impl Into<String>, value: impl fmt::Display) -> Self {
        self.fields.push((name.into(), value.to_string()));
        self
    }

    /// Adds a field when there is a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let cwd: Option<&str> = Some("/srv/app");
    /// let d = Description::new("$ make").field_opt("cwd", cwd).field_opt("user", None::<&str>);
    /// assert_eq!(d.fields, [("cwd".to_string(), "/srv/app".to_string())]);
    /// ```
    pub fn field_opt<T: fmt::Display>(self, name: impl Into<String>, value: Option<T>) -> Self {
        match value {
            Some(value) => self.field(name, value),
            None => self,
        }
    }
}
